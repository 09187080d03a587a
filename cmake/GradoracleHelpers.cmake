# Shared build settings for every gradoracle target.
#
# Compile time (docs/performance.md, "Cold start"; measured by tools/cold_start.sh): with
# GRADORACLE_UNITY (default ON) each target is a unity build, its sources compiled together in
# batches of GRADORACLE_UNITY_BATCH, so the headers every source includes (the standard library,
# nlohmann/json, rapidcheck, GoogleTest) are parsed, and their templates instantiated and
# optimised, once per batch instead of once per source. A source whose file-local names clash
# with another's is kept out of the batches with gradoracle_unity_alone(). OFF builds each
# source alone, as before (and finds a missing include a unity batch hides).
option(GRADORACLE_UNITY "Unity builds: compile each target's sources in batches" ON)
set(GRADORACLE_UNITY_BATCH 8 CACHE STRING "Sources per unity batch (GRADORACLE_UNITY)")
# Release's optimisation, per target. A user's first verdict is the build plus the gate, and the
# build is most of it (docs/performance.md, "Cold start"), so only the code the gate and
# `gradcheck` spend their time in is optimised hard: targets marked hot (gradoracle_hot: the
# engine's kernels and formulas, the checker, the fixture reader and interpreter, the benchmarks)
# get GRADORACLE_OPT_HOT, -O2 (Eigen's kernels need -O2's inlining; -O3 measured no faster);
# every other target (the property generators and RapidCheck's driver, the command line, the
# tests) GRADORACLE_OPT_COLD, -O1. Both come after CMAKE_CXX_FLAGS_RELEASE's -O3 on the command
# line, so they win; other build types are left as they are.
set(GRADORACLE_OPT_HOT -O2 CACHE STRING "Release optimisation of the hot targets (gradoracle_hot)")
set(GRADORACLE_OPT_COLD -O1 CACHE STRING "Release optimisation of the other targets")
# The sanitizer build's test programs (the targets under tests/: GRADORACLE_TEST_TARGETS) compile
# their own code (assertions, fixtures built in code, property drivers) at
# GRADORACLE_SANITIZE_OPT_TESTS, -O0: ASan's instrumentation makes -O1 twice as slow to compile
# (the engine tests' first unity batch: 54 CPU s at -O1, 27 s at -O0) for code that runs for
# milliseconds, while the libraries they call keep the build type's -O1.
set(GRADORACLE_SANITIZE_OPT_TESTS -O0 CACHE STRING "Optimisation of the test programs' own code in sanitizer builds")
function(gradoracle_hot)
  set_target_properties(${ARGN} PROPERTIES GRADORACLE_HOT ON)
endfunction()
function(gradoracle_target_defaults target)
  target_compile_options(${target} PRIVATE "$<$<CONFIG:Release>:$<IF:$<BOOL:$<TARGET_PROPERTY:GRADORACLE_HOT>>,${GRADORACLE_OPT_HOT},${GRADORACLE_OPT_COLD}>>")
  if(GRADORACLE_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON
      UNITY_BUILD_BATCH_SIZE ${GRADORACLE_UNITY_BATCH})
  endif()
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
    $<$<BOOL:${GRADORACLE_WERROR}>:-Werror>)
  # ASan + UBSan on every target (libraries PUBLIC, so whatever links them is instrumented
  # and linked with the runtimes too). -fno-sanitize-recover=all: a UBSan report aborts, so
  # undefined behaviour fails the test; ASan always halts on its first error. tools/test.sh
  # also sets ASAN_OPTIONS/UBSAN_OPTIONS (leaks, stack-use-after-return, stack traces).
  if(GRADORACLE_SANITIZE)
    target_compile_options(${target} PUBLIC -fsanitize=address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=all)
    if(GRADORACLE_TEST_TARGETS)
      target_compile_options(${target} PRIVATE ${GRADORACLE_SANITIZE_OPT_TESTS})
    endif()
    target_link_options(${target} PUBLIC -fsanitize=address,undefined -fno-sanitize-recover=all)
  endif()
  # libFuzzer's coverage instrumentation for everything the fuzz target links.
  if(GRADORACLE_FUZZ)
    target_compile_options(${target} PUBLIC -fsanitize=fuzzer-no-link)
  endif()
endfunction()

# gradoracle_add_library(NAME folder SOURCES ... DEPS ...): library gradoracle_<folder>
# with alias gradoracle::<folder>, public headers in <folder>/include. With GRADORACLE_INSTALL,
# the library and its headers are installed and the folder becomes a component of the CMake
# package (export set gradoracle-<folder>-targets, imported as gradoracle::<folder>; see
# GradoraclePackage.cmake).
function(gradoracle_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(gradoracle_${name} ${ARG_SOURCES})
  add_library(gradoracle::${name} ALIAS gradoracle_${name})
  set_target_properties(gradoracle_${name} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(gradoracle_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(gradoracle_${name} PUBLIC ${ARG_DEPS})
  gradoracle_target_defaults(gradoracle_${name})
  if(GRADORACLE_INSTALL)
    install(TARGETS gradoracle_${name} EXPORT gradoracle-${name}-targets
      ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
      LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
      RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
      FILES_MATCHING PATTERN "*.hpp")
    set_property(GLOBAL APPEND PROPERTY GRADORACLE_COMPONENTS ${name})
  endif()
endfunction()

# gradoracle_add_test(NAME SOURCES ... DEPS ... [LABELS ...]): one GoogleTest executable,
# its tests discovered into ctest.
function(gradoracle_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  gradoracle_target_defaults(${name})
  target_compile_definitions(${name} PRIVATE
    GRADORACLE_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/corpus"
    GRADORACLE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${ARG_LABELS}")
endfunction()

# gradoracle_unity_alone(SOURCES...): these sources are compiled alone, outside the unity batches
# (their file-local helpers clash by name with another source's).
function(gradoracle_unity_alone)
  set_source_files_properties(${ARGN} DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
endfunction()
