//! Classic tracepoint record layouts, from tracefs `format` files.
//!
//! A classic tracepoint hands its program a record whose layout is stable
//! per kernel build and described in `events/<system>/<event>/format`.

use std::path::{Path, PathBuf};

use crate::mounts::TRACEFS;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("tracepoint {system}:{event} not found: {path}: {reason}")]
    Unreadable {
        system: String,
        event: String,
        path: PathBuf,
        reason: String,
    },
    #[error("tracepoint {system}:{event} has no field `{field}`")]
    NoField {
        system: String,
        event: String,
        field: String,
    },
    #[error("cannot parse line {line:?} of {path}")]
    Parse { path: PathBuf, line: String },
}

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The C declaration, e.g. `void * skbaddr` or `__data_loc char[] name`.
    pub decl: String,
    pub name: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
}

/// The parsed `format` file of one tracepoint.
#[derive(Clone, Debug)]
pub struct Format {
    pub system: String,
    pub event: String,
    pub id: Option<u32>,
    pub fields: Vec<Field>,
}

impl Format {
    /// Reads `events/<system>/<event>/format` under the mounted tracefs.
    pub fn load(system: &str, event: &str) -> Result<Self, FormatError> {
        Self::load_from(Path::new(TRACEFS), system, event)
    }

    pub fn load_from(tracefs: &Path, system: &str, event: &str) -> Result<Self, FormatError> {
        let path = tracefs
            .join("events")
            .join(system)
            .join(event)
            .join("format");
        let text = std::fs::read_to_string(&path).map_err(|e| FormatError::Unreadable {
            system: system.into(),
            event: event.into(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(system, event, &text, &path)
    }

    /// Parses the text of a `format` file.
    pub fn parse(system: &str, event: &str, text: &str, path: &Path) -> Result<Self, FormatError> {
        let mut fields = Vec::new();
        let mut id = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("ID:") {
                id = rest.trim().parse().ok();
            } else if line.starts_with("field:") {
                fields.push(parse_field(line).ok_or_else(|| FormatError::Parse {
                    path: path.into(),
                    line: line.into(),
                })?);
            }
        }
        Ok(Self {
            system: system.into(),
            event: event.into(),
            id,
            fields,
        })
    }

    pub fn field(&self, name: &str) -> Result<&Field, FormatError> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| FormatError::NoField {
                system: self.system.clone(),
                event: self.event.clone(),
                field: name.into(),
            })
    }

    /// Offset of a field within the record, as the program reads it.
    pub fn offset_of(&self, name: &str) -> Result<u32, FormatError> {
        self.field(name).map(|f| f.offset)
    }
}

/// `field:void * skbaddr; offset:8; size:8; signed:0;` (tab-separated)
fn parse_field(line: &str) -> Option<Field> {
    let mut decl = None;
    let (mut offset, mut size, mut signed) = (None, None, None);
    for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once(':')?;
        match key.trim() {
            "field" => decl = Some(value.trim().to_string()),
            "offset" => offset = value.trim().parse().ok(),
            "size" => size = value.trim().parse().ok(),
            "signed" => signed = value.trim().parse::<u8>().ok().map(|s| s != 0),
            _ => {}
        }
    }
    let decl = decl?;
    let name = field_name(&decl)?;
    Some(Field {
        name,
        decl,
        offset: offset?,
        size: size?,
        signed: signed.unwrap_or(false),
    })
}

/// The identifier of a C declaration: the last word, less any array suffix.
fn field_name(decl: &str) -> Option<String> {
    let last = decl.split_whitespace().last()?;
    let name = last.split('[').next()?.trim_start_matches('*');
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETIF_RECEIVE_SKB: &str = "name: netif_receive_skb
ID: 1520
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:unsigned int len;\toffset:16;\tsize:4;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:20;\tsize:4;\tsigned:0;
\tfield:u8 dev_addr[6];\toffset:24;\tsize:6;\tsigned:0;

print fmt: \"dev=%s skbaddr=%p len=%u\", __get_str(name), REC->skbaddr, REC->len
";

    fn parsed() -> Format {
        Format::parse(
            "net",
            "netif_receive_skb",
            NETIF_RECEIVE_SKB,
            Path::new("x"),
        )
        .unwrap()
    }

    #[test]
    fn reads_offsets_sizes_and_signs() {
        let f = parsed();
        assert_eq!(f.id, Some(1520));
        assert_eq!(f.offset_of("skbaddr").unwrap(), 8);
        let pid = f.field("common_pid").unwrap();
        assert_eq!((pid.offset, pid.size, pid.signed), (4, 4, true));
    }

    #[test]
    fn names_data_loc_and_array_fields() {
        let f = parsed();
        assert_eq!(f.field("name").unwrap().decl, "__data_loc char[] name");
        assert_eq!(f.offset_of("name").unwrap(), 20);
        assert_eq!(f.field("dev_addr").unwrap().size, 6);
    }

    #[test]
    fn missing_field_is_a_clear_error() {
        let err = parsed().offset_of("nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint net:netif_receive_skb has no field `nope`"
        );
    }

    #[test]
    fn malformed_field_line_is_reported() {
        let err = Format::parse("a", "b", "\tfield:int x;\toffset:zz;", Path::new("f"));
        assert!(matches!(err, Err(FormatError::Parse { .. })));
    }
}
