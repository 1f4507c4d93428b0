//! Kernel side of Prism's prioritized datapath.
//!
//! Built for `bpfel-unknown-none` by `prism-datapath/build.rs` (aya-build).
#![no_std]
#![no_main]

mod capabilities;
mod dscp;
mod flow;
mod maps;
mod route;
mod rx;
mod steer;
mod tx;
mod vxlan;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
