#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build script for netrig's fuzzers.
#
# Honours the OSS-Fuzz build environment: $CC $CXX $CFLAGS $CXXFLAGS (sanitizer and coverage
# flags), $LIB_FUZZING_ENGINE (the engine to link, e.g. -fsanitize=fuzzer), $SRC (sources: netrig
# is $SRC/netrig, or the checkout this script sits in), $OUT (where the fuzzers go) and $WORK
# (scratch; the CMake build directory is $WORK/netrig-build).
#
# For every target of the list CMake writes (build/fuzzers/targets.json) it writes $OUT/<target> (the fuzzer),
# $OUT/<target>_seed_corpus.zip (corpora/<target>/), and $OUT/<target>.dict and
# $OUT/<target>.options when corpora/ has them.
#
# Locally (no Docker), as tests/findings/clusterfuzzlite_integration_test.cc does:
#   CC=clang-19 CXX=clang++-19 CFLAGS="-fsanitize=address,undefined -fsanitize=fuzzer-no-link" \
#   CXXFLAGS="$CFLAGS" LIB_FUZZING_ENGINE=-fsanitize=fuzzer SRC=.. OUT=/tmp/out WORK=/tmp/work \
#   .clusterfuzzlite/build.sh
# NETRIG_FUZZ_TARGETS="a b" builds and packages only those targets (the CTest does, to stay short).

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -f "${script_dir}/../CMakeLists.txt" && -d "${script_dir}/../fuzzers" ]]; then
  source_dir="$(cd "${script_dir}/.." && pwd)"
else
  source_dir="${SRC}/netrig"
fi
build_dir="${WORK:-/tmp}/netrig-build"
mkdir -p "${OUT}" "${build_dir}"

# Ubuntu's Abseil and libcurl are built against libstdc++: OSS-Fuzz's default -stdlib=libc++ would
# not link with them.
CXXFLAGS="${CXXFLAGS//-stdlib=libc++/}"

# NETRIG_SANITIZER=none: the sanitizer flags come from $CFLAGS/$CXXFLAGS; the fuzzers link
# $LIB_FUZZING_ENGINE (fuzzers/CMakeLists.txt, NETRIG_FUZZING_ENGINE). No build type: the
# optimisation level is the one in $CFLAGS.
cmake -S "${source_dir}" -B "${build_dir}" -G Ninja \
  -DCMAKE_BUILD_TYPE= \
  -DCMAKE_C_COMPILER="${CC}" -DCMAKE_CXX_COMPILER="${CXX}" \
  -DCMAKE_C_FLAGS="${CFLAGS}" -DCMAKE_CXX_FLAGS="${CXXFLAGS}" \
  -DNETRIG_SANITIZER=none \
  -DNETRIG_FUZZING_ENGINE="${LIB_FUZZING_ENGINE}" \
  -DNETRIG_BUILD_TESTS=OFF
wanted="${NETRIG_FUZZ_TARGETS:-$(sed -n 's/.*"name": "\([a-z0-9_]*\)".*/\1/p' "${build_dir}/fuzzers/targets.json")}"
build_targets=()
for target in ${wanted}; do build_targets+=("${target}_fuzzer"); done
cmake --build "${build_dir}" --target "${build_targets[@]}" -j "${NETRIG_BUILD_JOBS:-$(nproc)}"

targets=()
for target in ${wanted}; do
  targets+=("${target}")
  cp "${build_dir}/fuzzers/${target}_fuzzer" "${OUT}/${target}"
  corpus="${source_dir}/corpora/${target}"
  rm -f "${OUT}/${target}_seed_corpus.zip"
  if [[ -d "${corpus}" ]] && compgen -G "${corpus}/*" >/dev/null; then
    (cd "${corpus}" && zip -q -r "${OUT}/${target}_seed_corpus.zip" .)
  fi
  for extension in dict options; do
    if [[ -f "${source_dir}/corpora/${target}.${extension}" ]]; then
      cp "${source_dir}/corpora/${target}.${extension}" "${OUT}/${target}.${extension}"
    fi
  done
done
echo "netrig build.sh: built ${targets[*]} into ${OUT}"
