//! Builds the kernel side (`ebpf/`) for bpfel-unknown-none with the nightly
//! toolchain and bpf-linker; the object lands in OUT_DIR/prism-datapath.
fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-changed=common");
    println!("cargo:rerun-if-changed=../prism-rules/src");
    let ebpf = aya_build::Package {
        name: "prism-datapath-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/ebpf"),
        ..Default::default()
    };
    aya_build::build_ebpf([ebpf], aya_build::Toolchain::default())
}
