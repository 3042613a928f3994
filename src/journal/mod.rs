//! Journals and recordings: one file format for the daemon's flight recorder
//! and for the demo's shareable recordings.
//!
//! A journal is a header line ([`crate::model::JournalHeader`]) followed by
//! one [`crate::model::Event`] per line, exactly as `GET /v1/events` streams
//! them. `writer` appends them (the controller's [`EventSink`]), `reader`
//! reads them back tolerantly (corrupt lines skipped and counted, a torn last
//! line accepted, unknown event types skipped for forward compatibility),
//! `player` is a pure clock-free playback model used by the replay cockpit,
//! `replay` is the headless `cutover replay --no-tui`, and `asciicast` turns
//! rendered frames into an asciicast v2 file.
//!
//! [`EventSink`]: crate::controller::interfaces::EventSink

pub mod asciicast;
pub mod export;
pub mod headless;
pub mod player;
pub mod reader;
pub mod writer;

pub use asciicast::{CastMeta, buffer_to_ansi, write_asciicast, write_asciicast_with};
pub use headless::{ReplayOutcome, final_state};
pub use player::{Marker, MarkerKind, Player};
pub use reader::{Journal, JournalError, parse_journal, parse_journal_bytes, read_journal};
pub use writer::{JournalWriter, Rotation, SharedJournal, journal_files, rotated_path};
