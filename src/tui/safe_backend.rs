//! [`SafeBackend`]: the cockpit's terminal backend, which writes nothing but
//! what the renderer drew. Outside text is cleaned where it enters the model
//! (`crate::text`); should a control character still reach a cell, this
//! writes its picture instead of passing it to the terminal, the same last
//! line of defence the asciicast writer holds (`crate::text::cell_symbol`).

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::io;

/// Wraps the real backend; every other call passes straight through.
pub struct SafeBackend<B: Backend> {
    inner: B,
}

impl<B: Backend> SafeBackend<B> {
    pub fn new(inner: B) -> SafeBackend<B> {
        SafeBackend { inner }
    }
}

/// The cells of one draw with any control character replaced (the common
/// case, no control anywhere, copies nothing but the references).
pub fn safe_cells<'a>(
    content: impl Iterator<Item = (u16, u16, &'a Cell)>,
) -> (Vec<(u16, u16, &'a Cell)>, Vec<(usize, Cell)>) {
    let cells: Vec<(u16, u16, &Cell)> = content.collect();
    let fixed = cells
        .iter()
        .enumerate()
        .filter_map(
            |(i, (_, _, cell))| match crate::text::cell_symbol(cell.symbol()) {
                std::borrow::Cow::Borrowed(_) => None,
                std::borrow::Cow::Owned(symbol) => {
                    let mut c = (*cell).clone();
                    c.set_symbol(&symbol);
                    Some((i, c))
                }
            },
        )
        .collect();
    (cells, fixed)
}

impl<B: Backend> Backend for SafeBackend<B> {
    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let (cells, fixed) = safe_cells(content);
        if fixed.is_empty() {
            return self.inner.draw(cells.into_iter());
        }
        let mut fixed = fixed.iter().peekable();
        let merged = cells.iter().enumerate().map(|(i, &(x, y, cell))| {
            match fixed.next_if(|(j, _)| *j == i) {
                Some((_, c)) => (x, y, c),
                None => (x, y, cell),
            }
        });
        // The fixed cells outlive the draw call: collect the references first.
        let merged: Vec<(u16, u16, &Cell)> = merged.collect();
        self.inner.draw(merged.into_iter())
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        self.inner.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
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
