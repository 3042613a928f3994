//! The sanitizer that stands between outside text and the operator's
//! terminal (`cutover::text`), as properties over arbitrary strings: no C0,
//! DEL or C1 control ever survives it, text without controls comes out
//! exactly as it went in, and cleaning twice is cleaning once. The same for
//! the multi-line forms, and for the walk over whole events.

use cutover::model::{Event, EventKind};
use cutover::text::{self, CleanText};
use proptest::prelude::*;

/// Strings rich in what matters: controls of every range, escape
/// sequences, printable ASCII, wide and combining characters, pictures.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        3 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap().to_string()),
        2 => (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap().to_string()),
        2 => Just("\u{1b}]52;c;cHduZWQ=\u{7}".to_string()),
        2 => Just("\u{1b}[2J".to_string()),
        1 => Just("\r\n".to_string()),
        3 => "[ -~]{1,8}",
        1 => Just("漢字🚀e\u{301}␛".to_string()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_control_survives(s in hostile()) {
        let out = text::clean(&s);
        prop_assert!(!out.chars().any(char::is_control), "{out:?}");
        for line in text::lines(&s) {
            prop_assert!(!line.chars().any(char::is_control), "{line:?}");
        }
        prop_assert!(!text::one_line(&s).chars().any(char::is_control));
    }

    #[test]
    fn printable_text_is_unchanged(s in any::<String>()) {
        let printable: String = s.chars().filter(|c| !c.is_control()).collect();
        let out = text::clean(&printable);
        prop_assert_eq!(out.as_ref(), printable.as_str());
    }

    #[test]
    fn cleaning_is_idempotent(s in hostile()) {
        let once = text::clean(&s).into_owned();
        let twice = text::clean(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str());
        let mut owned = s.clone();
        text::clean_in_place(&mut owned);
        prop_assert_eq!(&owned, &once);
    }

    #[test]
    fn only_controls_are_touched(s in hostile()) {
        // What is not a control keeps its place: removing the pictures and
        // escapes from the output gives back the input without its controls.
        let out = text::clean(&s);
        let kept: String = s.chars().filter(|c| !c.is_control()).collect();
        let shown_count = s.chars().filter(|c| c.is_control()).count();
        prop_assert!(out.chars().count() >= kept.chars().count() + shown_count);
        prop_assert!(kept.chars().all(|c| out.contains(c)));
    }

    #[test]
    fn a_whole_event_is_cleaned(reason in hostile(), detail in hostile()) {
        let mut ev = Event {
            seq: 1,
            at: chrono::Utc::now(),
            kind: EventKind::Action {
                action: "set_weight".into(),
                by: cutover::model::Actor::Api,
                reason: Some(reason),
                ok: true,
                detail,
            },
        };
        ev.clean_text();
        let EventKind::Action { reason, detail, .. } = &ev.kind else { unreachable!() };
        for field in [reason.as_deref().unwrap_or(""), detail.as_str()] {
            prop_assert!(!field.chars().any(char::is_control), "{field:?}");
        }
    }
}
