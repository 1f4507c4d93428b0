//! Struct member offsets from the running kernel's BTF.
//!
//! aya-ebpf cannot emit CO-RE relocations, so the eBPF programs read kernel
//! structs at offsets that userspace resolves here and passes in as globals.

use std::path::{Path, PathBuf};

use btf_rs::{Btf, Member, Struct, Type};

/// Where the kernel exposes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read kernel BTF from {path}: {reason} (is CONFIG_DEBUG_INFO_BTF set?)")]
    Unreadable { path: PathBuf, reason: String },
    #[error("kernel BTF has no struct or union `{0}`")]
    NoStruct(String),
    #[error("kernel BTF: `struct {strukt}` has no member `{member}` (looking up `{path}`)")]
    NoMember {
        strukt: String,
        member: String,
        path: String,
    },
    #[error("kernel BTF: `{path}` is a bitfield; Prism only reads whole bytes")]
    Bitfield { path: String },
    #[error("kernel BTF: `{path}`: `{member}` is not a struct or union, so it has no members")]
    NotComposite { path: String, member: String },
    #[error("kernel BTF is malformed around `{path}`: {reason}")]
    Malformed { path: String, reason: String },
}

/// The kernel's BTF, for offset look-ups.
pub struct KernelBtf {
    btf: Btf,
}

impl KernelBtf {
    /// Reads the running kernel's BTF.
    pub fn from_sys() -> Result<Self, BtfError> {
        Self::from_file(VMLINUX_BTF)
    }

    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BtfError> {
        let path = path.as_ref();
        Btf::from_file(path)
            .map(|btf| Self { btf })
            .map_err(|e| BtfError::Unreadable {
                path: path.into(),
                reason: e.to_string(),
            })
    }

    /// Byte offset of `path` (members separated by dots, e.g. `nd_net.net`)
    /// from the start of `struct strukt`. Members of anonymous structs and
    /// unions are found as if they were direct members, as in C.
    pub fn offset_of(&self, strukt: &str, path: &str) -> Result<u32, BtfError> {
        let full = format!("{strukt}.{path}");
        let mut current = self.composite_named(strukt)?;
        let mut current_name = strukt.to_string();
        let mut bits = 0u32;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let (member, at) =
                self.find_member(&current, segment, &full)?
                    .ok_or_else(|| BtfError::NoMember {
                        strukt: current_name.clone(),
                        member: segment.into(),
                        path: full.clone(),
                    })?;
            if member.bitfield_size().is_some_and(|size| size != 0) {
                return Err(BtfError::Bitfield { path: full });
            }
            bits += at;
            if segments.peek().is_some() {
                current = self.member_composite(&member, &full)?.ok_or_else(|| {
                    BtfError::NotComposite {
                        path: full.clone(),
                        member: segment.into(),
                    }
                })?;
                current_name = segment.into();
            }
        }
        if !bits.is_multiple_of(8) {
            return Err(BtfError::Bitfield { path: full });
        }
        Ok(bits / 8)
    }

    /// Whether the kernel has a type of this name (e.g. `btf_trace_sk_data_ready`:
    /// a BTF tracepoint's type, so whether the tracepoint exists).
    pub fn has_type(&self, name: &str) -> bool {
        self.btf
            .resolve_types_by_name(name)
            .is_ok_and(|t| !t.is_empty())
    }

    /// Every member of `enum name` with its value (e.g. `skb_drop_reason`).
    pub fn enum_members(&self, name: &str) -> Result<Vec<(String, u32)>, BtfError> {
        let types = self
            .btf
            .resolve_types_by_name(name)
            .map_err(|_| BtfError::NoStruct(name.into()))?;
        let e = types
            .into_iter()
            .find_map(|t| match t {
                Type::Enum(e) => Some(e),
                _ => None,
            })
            .ok_or_else(|| BtfError::NoStruct(name.into()))?;
        Ok(e.members
            .iter()
            .map(|m| (self.btf.resolve_name(m).unwrap_or_default(), m.val()))
            .collect())
    }

    /// The value of `member` in `enum name`, e.g. `GRO_MERGED` of `gro_result`.
    pub fn enum_value(&self, name: &str, member: &str) -> Result<u32, BtfError> {
        let types = self
            .btf
            .resolve_types_by_name(name)
            .map_err(|_| BtfError::NoStruct(name.into()))?;
        for t in types {
            if let Type::Enum(e) = t {
                for m in &e.members {
                    if self.btf.resolve_name(m).is_ok_and(|n| n == member) {
                        return Ok(m.val());
                    }
                }
            }
        }
        Err(BtfError::NoMember {
            strukt: format!("enum {name}"),
            member: member.into(),
            path: format!("{name}::{member}"),
        })
    }

    fn composite_named(&self, name: &str) -> Result<Struct, BtfError> {
        let types = self
            .btf
            .resolve_types_by_name(name)
            .map_err(|_| BtfError::NoStruct(name.into()))?;
        types
            .into_iter()
            .find_map(|t| match t {
                // A struct with no members is a forward declaration's twin.
                Type::Struct(s) | Type::Union(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| BtfError::NoStruct(name.into()))
    }

    /// Finds `name` among the members of `s`, descending into anonymous
    /// members. Returns the member and its bit offset from the start of `s`.
    fn find_member(
        &self,
        s: &Struct,
        name: &str,
        path: &str,
    ) -> Result<Option<(Member, u32)>, BtfError> {
        for member in &s.members {
            let member_name = self.btf.resolve_name(member).unwrap_or_default();
            if member_name == name {
                return Ok(Some((member.clone(), member.bit_offset())));
            }
            if member_name.is_empty()
                && let Some(inner) = self.member_composite(member, path)?
                && let Some((found, at)) = self.find_member(&inner, name, path)?
            {
                return Ok(Some((found, member.bit_offset() + at)));
            }
        }
        Ok(None)
    }

    /// The struct or union a member is, through typedefs and qualifiers.
    fn member_composite(&self, member: &Member, path: &str) -> Result<Option<Struct>, BtfError> {
        let malformed = |e: btf_rs::Error| BtfError::Malformed {
            path: path.into(),
            reason: e.to_string(),
        };
        let mut t = self.btf.resolve_chained_type(member).map_err(malformed)?;
        loop {
            t = match t {
                Type::Struct(s) | Type::Union(s) => return Ok(Some(s)),
                Type::Typedef(ref x) => self.btf.resolve_chained_type(x).map_err(malformed)?,
                Type::Const(ref x) | Type::Volatile(ref x) | Type::Restrict(ref x) => {
                    self.btf.resolve_chained_type(x).map_err(malformed)?
                }
                Type::TypeTag(ref x) => self.btf.resolve_chained_type(x).map_err(malformed)?,
                _ => return Ok(None),
            };
        }
    }
}

/// One offset a program needs: which struct, which member path.
#[derive(Clone, Copy, Debug)]
pub struct MemberPath {
    pub strukt: &'static str,
    pub path: &'static str,
}

impl MemberPath {
    pub const fn new(strukt: &'static str, path: &'static str) -> Self {
        Self { strukt, path }
    }

    pub fn resolve(&self, btf: &KernelBtf) -> Result<u32, BtfError> {
        btf.offset_of(self.strukt, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> KernelBtf {
        KernelBtf::from_sys().expect("these tests read the running kernel's BTF")
    }

    #[test]
    fn finds_members_inside_anonymous_unions() {
        let btf = kernel();
        // sk_buff.dev sits in an anonymous struct inside an anonymous union.
        let dev = btf.offset_of("sk_buff", "dev").unwrap();
        let next = btf.offset_of("sk_buff", "next").unwrap();
        assert_eq!(next, 0, "next opens struct sk_buff");
        assert_eq!(dev, 16, "dev follows next and prev on 64-bit kernels");
    }

    #[test]
    fn walks_embedded_structs() {
        let btf = kernel();
        let net = btf.offset_of("net_device", "nd_net.net").unwrap();
        let nd_net = btf.offset_of("net_device", "nd_net").unwrap();
        assert_eq!(net, nd_net, "possible_net_t holds only the pointer");
    }

    #[test]
    fn names_the_missing_member() {
        let btf = kernel();
        let err = btf.offset_of("sk_buff", "no_such_member").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF: `struct sk_buff` has no member `no_such_member` (looking up `sk_buff.no_such_member`)"
        );
        let err = btf.offset_of("no_such_struct", "x").unwrap_err();
        assert!(matches!(err, BtfError::NoStruct(_)), "{err}");
        let err = btf.offset_of("sk_buff", "len.x").unwrap_err();
        assert!(matches!(err, BtfError::NotComposite { .. }), "{err}");
    }

    #[test]
    fn reads_enum_values() {
        let btf = kernel();
        assert_eq!(btf.enum_value("gro_result", "GRO_MERGED").unwrap(), 0);
        assert_eq!(btf.enum_value("gro_result", "GRO_MERGED_FREE").unwrap(), 1);
        assert!(btf.enum_value("gro_result", "GRO_NOPE").is_err());
    }

    #[test]
    fn refuses_bitfields() {
        let btf = kernel();
        // sk_buff.pkt_type is a 3-bit field.
        let err = btf.offset_of("sk_buff", "pkt_type").unwrap_err();
        assert!(matches!(err, BtfError::Bitfield { .. }), "{err}");
    }
}
