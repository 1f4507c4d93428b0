//! Small conveniences over aya shared by every eBPF component.

use anyhow::{Result, anyhow};
use aya::{
    Ebpf,
    programs::{Program, ProgramError},
};

/// A program of a loaded object by name, as its concrete type.
pub fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let p = ebpf
        .program_mut(name)
        .ok_or_else(|| anyhow!("program {name} is missing from the eBPF object"))?;
    Ok(p.try_into()?)
}
