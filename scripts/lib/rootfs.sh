# Sourced: puts a binary into a root file system tree with the shared
# libraries it links (ldd's list), for the kernel matrix's initramfs and
# the container image.
#   install_binary ROOT FROM TO     (TO is a path inside ROOT, e.g. /bin/prism)
install_binary() {
  local root=$1 from=$2 to=$3 lib
  mkdir -p "$root$(dirname "$to")"
  cp "$from" "$root$to"
  for lib in $(ldd "$from" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
