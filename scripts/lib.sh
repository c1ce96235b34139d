# Shared helpers for the scripts in this folder (sourced, not run).
# Each step says how long the whole command has run so far (from the outermost script).
export MAILWARD_T0="${MAILWARD_T0:-$(date +%s)}"
step() {
  local t=$(( $(date +%s) - MAILWARD_T0 ))
  printf '\n\033[1m==> %s\033[0m  [%dm%02ds]\n' "$*" $((t / 60)) $((t % 60)) >&2
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# The wasm-bindgen version pinned in Cargo.lock; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock
}
export PATH="$HOME/.cargo/bin:$PATH"
# Debian's wasm linker (package lld-22; any lld-NN will do).
wasm_ld() {
  local c
  for c in /usr/lib/llvm-22/bin/wasm-ld /usr/lib/llvm-*/bin/wasm-ld /usr/bin/wasm-ld; do
    [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}
