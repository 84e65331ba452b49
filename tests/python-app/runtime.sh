#!/bin/sh
# Copies what the app needs at run time into $1, to become a FROM-scratch image: the Python
# interpreter, its standard library (without tests, IDLE, Tk and the build tools), the Debian
# Python packages installed, the app, and every shared library these load.
set -eu
out=$1
python=$(readlink -f /usr/bin/python3)
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
mkdir -p "$out/tmp" "$out/etc"
chmod 1777 "$out/tmp"
cp -a --parents /usr/bin/python3 "$python" "$stdlib" /usr/lib/python3/dist-packages /app "$out"
for unneeded in test idlelib tkinter turtledemo ensurepip lib2to3 pydoc_data; do
  rm -rf "${out:?}$stdlib/$unneeded"
done
rm -rf "${out:?}$stdlib"/config-3.*
# Shared libraries, by what the loader resolves (the interpreter's own loader included).
find "$python" "$out/usr/lib" -name '*.so*' -o -path "$python" |
  sed "s|^$out||" | while read -r elf; do ldd "$elf" 2>/dev/null || true; done |
  grep -o '/[^ ]*' | sort -u | while read -r lib; do
    cp -L --parents "$lib" "$out"
  done
printf 'root:x:0:0::/:/nonexistent\napp:x:10001:10001::/app:/nonexistent\n' >"$out/etc/passwd"
printf 'root:x:0:\napp:x:10001:\n' >"$out/etc/group"
