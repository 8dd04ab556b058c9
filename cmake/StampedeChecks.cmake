# Build variants used by CI (scripts/test.sh): sanitizers for the unit suites, and clang's
# thread-safety analysis, which checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED
# annotations (GCC parses them but checks nothing).

option(STAMPEDE_SANITIZE
  "Build with AddressSanitizer and UndefinedBehaviorSanitizer (any finding aborts the test)" OFF)
option(STAMPEDE_THREAD_SAFETY
  "clang only: -Wthread-safety -Werror, so a lock annotation that does not hold fails the build"
  OFF)

if(STAMPEDE_SANITIZE)
  # -fno-sanitize-recover: a UBSan finding must fail the test, not just print a line.
  set(_stampede_sanitize_flags
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(${_stampede_sanitize_flags})
  add_link_options(${_stampede_sanitize_flags})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12's -Wmaybe-uninitialized misfires on instrumented std::regex/std::function code.
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()

if(STAMPEDE_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "STAMPEDE_THREAD_SAFETY=ON needs clang (thread-safety analysis is a clang feature), but "
      "the C++ compiler is ${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a fresh "
      "build dir with -DCMAKE_CXX_COMPILER=clang++ (Debian 12: apt-get install clang).")
  endif()
  # -Wthread-safety covers the analysis, the attribute checks and the reference checks.
  # Generated protobuf code is built with -w (proto/CMakeLists.txt), which also silences -Werror.
  add_compile_options(-Wthread-safety -Werror)
endif()

option(STAMPEDE_FUZZ
  "clang only: build the libFuzzer harnesses in tests/fuzz/ (ASan+UBSan; with BUILD_TESTING)"
  OFF)

if(STAMPEDE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "STAMPEDE_FUZZ=ON needs clang (libFuzzer is part of clang), but the C++ compiler is "
      "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a fresh build dir with "
      "-DCMAKE_CXX_COMPILER=clang++, or run scripts/fuzz.sh, which does (Debian 12: apt-get "
      "install clang libclang-rt-14-dev).")
  endif()
  # Everything is instrumented for coverage (fuzzer-no-link) and checked by the sanitizers; only
  # the harness executables link libFuzzer's main (tests/fuzz/CMakeLists.txt).
  set(_stampede_fuzz_flags
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
  add_compile_options(${_stampede_fuzz_flags})
  add_link_options(-fsanitize=address,undefined)
endif()
