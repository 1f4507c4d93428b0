//! The tune panel's state: which knob is selected and the value being
//! typed. Values are checked as typed (name and range, as `prism tune set`
//! checks them) so a change that reaches the worker is one the kernel takes.

use prism_tune::KnobState;

/// A change the panel asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnobChange {
    pub name: String,
    /// The namespace of a device knob (None: sysctls, or the current one).
    pub netns: Option<String>,
    pub value: String,
}

impl KnobChange {
    /// `KNOB=VALUE`, as `prism tune set` takes it.
    pub fn assignment(&self) -> String {
        format!("{}={}", self.name, self.value)
    }

    /// The trend's marker: the knob's last path component and the value.
    pub fn label(&self) -> String {
        let short = self.name.rsplit(['.', '/']).next().unwrap_or(&self.name);
        format!("{short}={}", self.value)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TunePanel {
    pub cursor: usize,
    /// The new value being typed for the selected knob (None: browsing).
    pub input: Option<String>,
    /// Why the typed value is refused.
    pub error: Option<String>,
}

impl TunePanel {
    pub fn up(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn down(&mut self, knobs: &[KnobState]) {
        self.cursor = (self.cursor + 1).min(knobs.len().saturating_sub(1));
    }

    /// Starts typing a new value for the selected knob, from its current one.
    pub fn edit(&mut self, knobs: &[KnobState]) {
        if let Some(k) = knobs.get(self.cursor) {
            self.input = Some(k.value.clone());
            self.error = None;
        }
    }

    pub fn type_char(&mut self, c: char) {
        if let Some(input) = &mut self.input {
            input.push(c);
            self.error = None;
        }
    }

    pub fn backspace(&mut self) {
        if let Some(input) = &mut self.input {
            input.pop();
            self.error = None;
        }
    }

    /// The change typed, if the value is one the knob takes; otherwise the
    /// reason is kept in `error` and typing goes on.
    pub fn submit(&mut self, knobs: &[KnobState]) -> Option<KnobChange> {
        let (knob, value) = (knobs.get(self.cursor)?, self.input.as_ref()?.trim());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let checked = prism_tune::parse_assignment(&format!("{}={value}", knob.name))
            .and_then(|(_, spec, v)| spec.range.check(&v, cpus).map(|()| v));
        match checked {
            Ok(v) if v == knob.value => {
                self.error = Some(format!("{} is {v} already", knob.name));
                None
            }
            Ok(value) => {
                self.input = None;
                Some(KnobChange {
                    name: knob.name.clone(),
                    netns: knob.netns.clone(),
                    value,
                })
            }
            Err(e) => {
                self.error = Some(format!("{e:#}"));
                None
            }
        }
    }
}

#[cfg(test)]
pub mod fixtures {
    use prism_tune::KnobState;

    fn knob(name: &str, netns: Option<&str>, value: &str, saved: Option<&str>) -> KnobState {
        let (_, spec) = prism_tune::knob::KnobName::parse(name).unwrap();
        KnobState {
            name: name.into(),
            netns: netns.map(String::from),
            value: value.into(),
            default: spec.default,
            range: spec.range.describe(),
            stage: spec.stage,
            about: spec.about,
            saved: saved.map(String::from),
        }
    }

    /// What a lab host shows: the sysctls, one changed, and a device.
    pub fn knobs() -> Vec<KnobState> {
        vec![
            knob("net.core.netdev_budget", None, "300", None),
            knob("net.core.netdev_budget_usecs", None, "8000", None),
            knob("net.core.dev_weight", None, "16", Some("64")),
            knob("net.core.netdev_max_backlog", None, "1000", None),
            knob("net.core.gro_normal_batch", None, "8", None),
            knob("eth0/gro_flush_timeout", Some("lab-b"), "0", None),
            knob("eth0/threaded", Some("lab-b"), "0", None),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_out_of_range_is_refused_with_the_reason_and_typing_goes_on() {
        let knobs = fixtures::knobs();
        let mut p = TunePanel::default();
        p.edit(&knobs);
        assert_eq!(p.input.as_deref(), Some("300"));
        p.backspace();
        p.backspace();
        p.backspace();
        p.type_char('0');
        assert_eq!(p.submit(&knobs), None);
        assert!(
            p.error.as_ref().unwrap().contains("from 1"),
            "{:?}",
            p.error
        );
        assert!(p.input.is_some());
        p.backspace();
        for c in "600".chars() {
            p.type_char(c);
        }
        assert_eq!(
            p.submit(&knobs),
            Some(KnobChange {
                name: "net.core.netdev_budget".into(),
                netns: None,
                value: "600".into()
            })
        );
        assert_eq!(p.input, None);
    }

    #[test]
    fn the_same_value_is_not_a_change() {
        let knobs = fixtures::knobs();
        let mut p = TunePanel::default();
        p.edit(&knobs);
        assert_eq!(p.submit(&knobs), None);
        assert!(p.error.as_ref().unwrap().contains("already"));
    }

    #[test]
    fn device_knobs_keep_their_namespace_and_label_short() {
        let knobs = fixtures::knobs();
        let mut p = TunePanel::default();
        for _ in 0..10 {
            p.down(&knobs);
        }
        assert_eq!(p.cursor, knobs.len() - 1, "stops at the last");
        p.edit(&knobs);
        p.backspace();
        p.type_char('1');
        let c = p.submit(&knobs).unwrap();
        assert_eq!(c.netns.as_deref(), Some("lab-b"));
        assert_eq!(c.assignment(), "eth0/threaded=1");
        assert_eq!(c.label(), "threaded=1");
    }
}
