//! [`SafeBackend`]: the cockpit's terminal backend, which writes nothing but
//! what the renderer drew. Outside text is cleaned where it enters the model
//! (`crate::text`); should a control character still reach a cell, this
//! writes its picture instead of passing it to the terminal, the same last
//! line of defence the asciicast writer holds (`crate::text::cell_symbol`).

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::borrow::Cow;

/// Wraps the real backend; every other call passes straight through.
pub struct SafeBackend<B: Backend> {
    inner: B,
}

impl<B: Backend> SafeBackend<B> {
    pub fn new(inner: B) -> SafeBackend<B> {
        SafeBackend { inner }
    }
}

impl<B: Backend> Backend for SafeBackend<B> {
    type Error = B::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), B::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        // The common case, no control anywhere, copies only the references.
        let cells: Vec<(u16, u16, &Cell)> = content.collect();
        let fixed: Vec<Option<Cell>> = cells
            .iter()
            .map(
                |(_, _, cell)| match crate::text::cell_symbol(cell.symbol()) {
                    Cow::Borrowed(_) => None,
                    Cow::Owned(symbol) => {
                        let mut c = (*cell).clone();
                        c.set_symbol(&symbol);
                        Some(c)
                    }
                },
            )
            .collect();
        let merged = cells
            .iter()
            .zip(&fixed)
            .map(|(&(x, y, cell), fix)| (x, y, fix.as_ref().unwrap_or(cell)));
        self.inner.draw(merged)
    }

    fn append_lines(&mut self, n: u16) -> Result<(), B::Error> {
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> Result<(), B::Error> {
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> Result<(), B::Error> {
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> Result<Position, B::Error> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), B::Error> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> Result<(), B::Error> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), B::Error> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> Result<Size, B::Error> {
        self.inner.size()
    }

    fn window_size(&mut self) -> Result<WindowSize, B::Error> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> Result<(), B::Error> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;

    #[test]
    fn a_control_in_a_cell_is_drawn_as_its_picture() {
        let mut backend = SafeBackend::new(TestBackend::new(4, 1));
        let mut esc = Cell::default();
        esc.set_symbol("\u{1b}");
        let mut csi = Cell::default();
        csi.set_symbol("\u{9b}");
        let plain = Cell::new("a");
        backend
            .draw([(0, 0, &plain), (1, 0, &esc), (2, 0, &csi), (3, 0, &plain)].into_iter())
            .unwrap();
        let drawn: Vec<&str> = backend
            .inner
            .buffer()
            .content
            .iter()
            .map(Cell::symbol)
            .collect();
        assert_eq!(drawn, vec!["a", "␛", "\u{fffd}", "a"]);
    }
}
