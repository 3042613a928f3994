//! How a CLI verb asks before it acts: y/N for the ordinary dangerous
//! ones, and the service name typed for a risky one (the same rule the
//! cockpit follows: [`crate::model::risk`]). With no terminal to ask on,
//! it refuses and points to `--yes`, so a script never hangs on a prompt.

use crate::model::risk::Risk;
use std::io::{BufRead, Write};

/// What the operator is asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Ask {
    /// `Proceed? [y/N]`.
    YesNo,
    /// Type the service name; says why.
    Typed(Risk),
}

impl Ask {
    pub fn of(risk: Option<Risk>) -> Ask {
        risk.map_or(Ask::YesNo, Ask::Typed)
    }
}

/// Why nothing was done without a terminal, naming `--yes`.
pub fn no_terminal(what: &str, ask: &Ask) -> String {
    match ask {
        Ask::YesNo => {
            format!("refusing to {what} without confirmation: no terminal to ask on (pass --yes)")
        }
        Ask::Typed(r) => format!(
            "refusing to {what} without confirmation: it is risky now ({}) and there is no terminal to type the service name on (pass --yes)",
            r.why()
        ),
    }
}

/// Ask on `out`, read the answer from `input`: whether to go ahead.
pub fn ask(what: &str, ask: &Ask, input: &mut impl BufRead, out: &mut impl Write) -> bool {
    let _ = match ask {
        Ask::YesNo => write!(out, "{what}\nProceed? [y/N] "),
        Ask::Typed(r) => {
            let _ = writeln!(out, "{what}");
            for why in &r.reasons {
                let _ = writeln!(out, "  ⚠ {why}");
            }
            write!(out, "Type the service name ({}) to proceed: ", r.expect)
        }
    };
    let _ = out.flush();
    let mut line = String::new();
    let _ = input.read_line(&mut line);
    match ask {
        Ask::YesNo => matches!(line.trim(), "y" | "Y" | "yes"),
        Ask::Typed(r) => line.trim() == r.expect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk() -> Risk {
        Risk {
            expect: "shop".into(),
            reasons: vec!["guard max_error_ratio is red (×8.30 > ×1.25)".into()],
        }
    }

    fn answer(a: &Ask, typed: &str) -> (bool, String) {
        let mut out = Vec::new();
        let ok = ask("promote: …", a, &mut typed.as_bytes(), &mut out);
        (ok, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_risky_action_wants_the_service_name_not_a_yes() {
        let typed = Ask::Typed(risk());
        let (ok, said) = answer(&typed, "y\n");
        assert!(!ok);
        assert!(
            said.contains("⚠ guard max_error_ratio is red")
                && said.ends_with("Type the service name (shop) to proceed: "),
            "{said}"
        );
        assert!(answer(&typed, "shop\n").0);
        assert!(!answer(&typed, "sho\n").0);
        assert!(!answer(&typed, "").0);
    }

    #[test]
    fn an_ordinary_one_takes_y() {
        assert!(answer(&Ask::YesNo, "y\n").0);
        assert!(answer(&Ask::YesNo, "yes\n").0);
        assert!(!answer(&Ask::YesNo, "shop\n").0);
        assert!(!answer(&Ask::YesNo, "\n").0);
    }

    #[test]
    fn without_a_terminal_it_says_why_and_names_yes() {
        let said = no_terminal("promote", &Ask::Typed(risk()));
        assert!(
            said.contains("without confirmation")
                && said.contains("max_error_ratio is red")
                && said.contains("pass --yes"),
            "{said}"
        );
    }
}
