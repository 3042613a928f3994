//! Entering and leaving the terminal: raw mode, the alternate screen and
//! mouse capture on the way in; all of it undone on the way out, whether
//! the cockpit quits, panics (a hook restores first, then reports) or gets
//! SIGTERM (the loop ends and [`Tui`]'s `Drop` restores).

use super::safe_backend::SafeBackend;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the terminal is in the cockpit's modes now. Undoing them twice
/// is not harmless: leaving the alternate screen when already out of it
/// restores the cursor saved on entry, so the second undo (the panic hook,
/// then `Drop` while unwinding) moved the cursor back over the panic report
/// and the shell's next lines overwrote it.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The terminal while the cockpit owns it.
pub struct Tui {
    pub terminal: Terminal<SafeBackend<CrosstermBackend<Stdout>>>,
}

impl Tui {
    pub fn enter() -> io::Result<Tui> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, EnableMouseCapture, cursor::Hide) {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(SafeBackend::new(CrosstermBackend::new(out))) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        Ok(Tui { terminal })
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Undo everything [`Tui::enter`] did, once: later calls do nothing.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
}

/// Restore the terminal before any panic report is printed, so the report
/// is readable and the shell is usable.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
