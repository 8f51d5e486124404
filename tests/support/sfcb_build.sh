#!/usr/bin/env bash
# Build SFCB 1.3.16 (RHEL 7 patch set) and cmpi-bindings 1.0.5's Python 3 provider
# library into PREFIX, for the test suite (tests/support/sfcb.py runs this; the result
# is cached, keyed by a hash of the tarballs and this script).
#
#   sfcb_build.sh THIRD_PARTY_DIR SCHEMA_DIR PREFIX PYTHON
#
# THIRD_PARTY_DIR holds sblim-sfcb-1.3.16-el7.tar.xz and cmpi-bindings-1.0.5.tar.xz,
# SCHEMA_DIR the DMTF CIM schema 2.49 (cim_schema_2.49.0.mof), PYTHON the interpreter
# libpy3CmpiProvider.so embeds (Debian's /usr/bin/python3). What was learned building
# them on Debian 12: ../shared/third-party/README.md.
#
# Result in PREFIX: sbin/sfcbd, bin/sfcb{mof,repos,stage,mofpp,...}, lib/sfcb (SFCB's own
# providers), lib/cmpi/libpy3CmpiProvider.so, include/cmpi/*.h, share/sfcb/CIM (schema),
# lib/cmpi-python/{cmpi.py,_cmpi.so -> ../cmpi/libpy3CmpiProvider.so} (the SWIG module;
# _cmpi.so fixes "No module named '_cmpi'" - the Python 3 build registers no extension).
set -euo pipefail
TP=$(realpath "$1"); SCHEMA=$(realpath "$2"); PREFIX=$3; PY=$4
JOBS=${SFCB_BUILD_JOBS:-2}
WORK=$(mktemp -d "${PREFIX}.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$PREFIX"

# ---- SFCB ---------------------------------------------------------------------------
tar -C "$WORK" -xf "$TP/sblim-sfcb-1.3.16-el7.tar.xz"
EL7="$WORK/sblim-sfcb-1.3.16-el7"
cd "$EL7/src"
# the spec's patches in its order, except the two for RHEL's file layout
for n in $(sed -n 's/^%patch\([0-9]*\).*/\1/p' "$EL7/sblim-sfcb.spec"); do
  f=$(sed -n "s/^Patch$n: *//p" "$EL7/sblim-sfcb.spec")
  case "$f" in
    *sfcbrepos-schema-location*|*multilib-man-cfg*) continue ;;
  esac
  patch -s -p1 < "$EL7/$f"
done
export CFLAGS="-O1 -g -fcommon -D_GNU_SOURCE -include stdint.h \
  -Wno-implicit-function-declaration -Wno-int-conversion -Wno-incompatible-pointer-types"
./configure -q --prefix="$PREFIX" --disable-ssl --disable-pam --enable-ipv6=no \
  --disable-dependency-tracking >"$WORK/configure.log" 2>&1 \
  || { tail -40 "$WORK/configure.log"; exit 1; }
# parallel first, then serially (the link dependencies are incomplete)
make -j"$JOBS" >"$WORK/make.log" 2>&1 || true
make >>"$WORK/make.log" 2>&1 || { tail -40 "$WORK/make.log"; exit 1; }
make install >"$WORK/install.log" 2>&1 || { tail -40 "$WORK/install.log"; exit 1; }
mkdir -p "$PREFIX/include/cmpi"
cp cmpidt.h cmpift.h cmpimacs.h cmpios.h cmpipl.h "$PREFIX/include/cmpi/"
# the DMTF schema sfcbrepos compiles into every namespace (what getSchema.sh would fetch)
mkdir -p "$PREFIX/share/sfcb/CIM"
cp -r "$SCHEMA"/. "$PREFIX/share/sfcb/CIM/"
cp "$PREFIX/share/sfcb/CIM/cim_schema_2.49.0.mof" "$PREFIX/share/sfcb/CIM/CIM_Schema.mof"

# ---- cmpi-bindings (Python 3) -------------------------------------------------------
tar -C "$WORK" -xf "$TP/cmpi-bindings-1.0.5.tar.xz"
CB="$WORK/cmpi-bindings-1.0.5"
# vrmgmt's patches (tests/support/cmpi_bindings.py says why): TargetCleanup keeps the
# interpreter instead of crashing in Py_Finalize at every provider-process shutdown
for p in "$(dirname "$(realpath "$0")")"/patches/cmpi-bindings-1.0.5-*.patch; do
  patch -d "$CB" -p1 --forward --batch -i "$p"
done
# swig runs with -I/usr/include only: add the CMPI headers
sed -i "s|-I/usr/include |-I/usr/include -I$PREFIX/include |" "$CB/swig/python/CMakeLists.txt"
mkdir "$CB/build"
cd "$CB/build"
PYDIR=$(dirname "$(realpath "$PY")")
cmake .. -DBUILD_PYTHON3=YES -DCMPI_INCLUDE_DIR="$PREFIX/include" \
  -DPython3_EXECUTABLE="$PY" -DPython3_ROOT_DIR="$(dirname "$PYDIR")" \
  -DCMAKE_INSTALL_PREFIX="$PREFIX" -DLIB=lib -DPYTHON_SITE_DIR="$PREFIX/lib/cmpi-python" \
  >"$WORK/cmake.log" 2>&1 || { tail -40 "$WORK/cmake.log"; exit 1; }
make -C swig/python -j"$JOBS" >"$WORK/cb-make.log" 2>&1 || { tail -40 "$WORK/cb-make.log"; exit 1; }
mkdir -p "$PREFIX/lib/cmpi" "$PREFIX/lib/cmpi-python"
cp swig/python/libpy3CmpiProvider.so "$PREFIX/lib/cmpi/"
cp swig/python/cmpi.py "$PREFIX/lib/cmpi-python/"
ln -sf ../cmpi/libpy3CmpiProvider.so "$PREFIX/lib/cmpi-python/_cmpi.so"
# what it embeds, for the record
ldd "$PREFIX/lib/cmpi/libpy3CmpiProvider.so" | grep libpython
