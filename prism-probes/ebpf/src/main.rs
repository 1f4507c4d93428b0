//! Kernel side of Prism's profilers.
//!
//! Built for `bpfel-unknown-none` by `prism-probes/build.rs` (aya-build);
//! userspace embeds the object and fills the globals before loading it.
#![no_std]
#![no_main]
// One instruction the verifier turns into a number (see kernel::addr_of).
#![feature(asm_experimental_arch)]

mod capabilities;
mod classify;
mod context;
mod empty;
mod hooks;
mod kernel;
mod maps;
mod packet_counter;
mod tracker;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

// GPL-compatible: the tracing helpers (bpf_probe_read_kernel, ...) demand it.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
