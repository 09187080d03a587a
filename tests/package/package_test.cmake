# The package tests' driver (tests/package/CMakeLists.txt passes the build's settings):
#   cmake -DSTEP=install|consume|components -DSOURCE_DIR=tests/package -DBUILD_DIR=<build>
#         -DWORK_DIR=<scratch> -DCONFIG=... -DLIBDIR=... -DVERSION=... ... -P package_test.cmake
# install:    a fresh prefix from `cmake --install`: the package files, headers and the CLI.
# consume:    consumer/ configured against the prefix with find_package, built, run; its exit
#             code and the verdicts it prints are checked.
# components: components/ configured against the prefix and against the build tree, and three
#             find_package calls that must fail (a newer minor version, an older one, a
#             component that does not exist) with the reason in CMake's output.
cmake_minimum_required(VERSION 3.22)

set(prefix ${WORK_DIR}/prefix)

# run(<what> <command>...): runs it; a non-zero exit fails the test, showing the output. The
# output (stdout and stderr) is left in `output`.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc}):\n${out}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

# run_failing(<what> <expected text> <command>...): the command must fail, saying <expected text>.
function(run_failing what expected)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${what} succeeded but must fail:\n${out}")
  endif()
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${what} failed, but its output does not say \"${expected}\":\n${out}")
  endif()
endfunction()

# expect_text(<where> <output> <line>...): each line is in the output.
function(expect_text where out)
  foreach(line IN LISTS ARGN)
    string(FIND "${out}" "${line}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${where}: the output lacks \"${line}\":\n${out}")
    endif()
  endforeach()
endfunction()

# The configure arguments of a project built like this build.
set(configure_args -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=${CONFIG} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
if(CONFIG)
  string(TOUPPER "${CONFIG}" config_upper)
  list(APPEND configure_args "-DCMAKE_CXX_FLAGS_${config_upper}=${CXX_FLAGS_CONFIG}")
endif()
if(CXX_LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE ${prefix})  # nothing left from an earlier run can stand in for a missing file
  run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --config ${CONFIG})
  set(expected ${LIBDIR}/cmake/gradoracle/gradoracleConfig.cmake ${LIBDIR}/cmake/gradoracle/gradoracleConfigVersion.cmake
    include/gradoracle/engine/autograd.hpp include/gradoracle/oracle/gradcheck.hpp
    include/gradoracle/fixtures/fixture.hpp include/gradoracle/properties/runner.hpp)
  foreach(component engine oracle fixtures properties)
    list(APPEND expected ${LIBDIR}/cmake/gradoracle/gradoracle-${component}-targets.cmake)
  endforeach()
  if(WITH_CLI)
    list(APPEND expected bin/gradoracle include/gradoracle/cli/cli.hpp)
  endif()
  foreach(file IN LISTS expected)
    if(NOT EXISTS ${prefix}/${file})
      message(FATAL_ERROR "cmake --install did not install ${file} into ${prefix}")
    endif()
  endforeach()
  if(WITH_CLI)
    run("the installed gradoracle ops" ${prefix}/bin/gradoracle ops)
    expect_text("gradoracle ops" "${output}" "matmul")
  endif()

elseif(STEP STREQUAL "consume")
  set(build ${WORK_DIR}/consumer)
  file(REMOVE_RECURSE ${build})
  run("configuring consumer/" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/consumer -B ${build} ${configure_args}
      -DCMAKE_PREFIX_PATH=${prefix})
  # find_package must have used the prefix, not another gradoracle on the machine.
  file(STRINGS ${build}/CMakeCache.txt found REGEX "^gradoracle_DIR:")
  if(NOT found STREQUAL "gradoracle_DIR:PATH=${prefix}/${LIBDIR}/cmake/gradoracle")
    message(FATAL_ERROR "consumer/ found gradoracle elsewhere: ${found}")
  endif()
  run("building consumer/" ${CMAKE_COMMAND} --build ${build} --config ${CONFIG})
  set(program ${build}/check_my_function)
  if(NOT EXISTS ${program})
    set(program ${build}/${CONFIG}/check_my_function)
  endif()
  run("consumer/check_my_function" ${program})
  # cube_wrong_backward's gradient is 2x² where 3x² is right: relative error (3-2)/3 on each
  # diagonal entry of its 6x6 Jacobian (x is 2x3, elementwise), the 30 others agree at 0.
  expect_text("check_my_function" "${output}"
    "f: passed\n" "cube: passed\n" "cube with a wrong backward: failed\n"
    "6 failing of 36 entries checked" "rel err 0.333333")
  # second_order: H·v and the penalty's x.grad match their closed forms; the detached-x cube passes
  # gradcheck (its first derivative is right) and fails gradgradcheck (d grad/dx is 0, not 6x·v).
  set(program ${build}/second_order)
  if(NOT EXISTS ${program})
    set(program ${build}/${CONFIG}/second_order)
  endif()
  run("consumer/second_order" ${program})
  expect_text("second_order" "${output}"
    "H·v = 6x·v: yes\n" "x.grad = 36x³: yes\n" "cube: gradgradcheck passed, jvpcheck passed\n"
    "cube with a detached saved x: gradcheck passed, gradgradcheck failed\n")

elseif(STEP STREQUAL "components")
  set(build ${WORK_DIR}/components)
  file(REMOVE_RECURSE ${build})
  foreach(where prefix tree)
    if(where STREQUAL "prefix")
      set(locate -DCMAKE_PREFIX_PATH=${prefix})
      set(dir ${prefix}/${LIBDIR}/cmake/gradoracle)
    else()
      set(locate -Dgradoracle_DIR=${BUILD_DIR})
      set(dir ${BUILD_DIR})
    endif()
    run("components/ against the ${where}" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/components -B ${build}/${where}
        ${configure_args} ${locate} -DEXPECTED_DIR=${dir} -DEXPECTED_VERSION=${VERSION} -DWITH_CLI=${WITH_CLI})
    expect_text("components/ against the ${where}" "${output}" "components: every check passed")
  endforeach()
  # A request the package must refuse, with its reason (each a project that only calls
  # find_package, no compiler).
  string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" mm "${VERSION}")
  set(major ${CMAKE_MATCH_1})
  set(minor ${CMAKE_MATCH_2})
  math(EXPR next_minor "${minor} + 1")
  # A version refused: CMake lists the prefix's config as considered, with its version.
  set(rejected "${prefix}/${LIBDIR}/cmake/gradoracle/gradoracleConfig.cmake, version: ${VERSION}")
  set(cases "newer|${major}.${next_minor}||${rejected}")
  if(minor GREATER 0)
    math(EXPR previous_minor "${minor} - 1")
    list(APPEND cases "older|${major}.${previous_minor}||${rejected}")
  endif()
  list(APPEND cases "unknown|${major}.${minor}|COMPONENTS oracle nosuch|gradoracle has no component nosuch")
  foreach(case IN LISTS cases)
    string(REPLACE "|" ";" case "${case}")
    list(GET case 0 name)
    list(GET case 1 version)
    list(GET case 2 components)
    list(GET case 3 expected)
    set(call "find_package(gradoracle ${version} REQUIRED ${components})")
    file(MAKE_DIRECTORY ${build}/${name})
    file(WRITE ${build}/${name}/CMakeLists.txt
      "cmake_minimum_required(VERSION 3.22)\nproject(refused LANGUAGES NONE)\n${call}\n")
    run_failing("${call}" "${expected}"
      ${CMAKE_COMMAND} -S ${build}/${name} -B ${build}/${name}/build -DCMAKE_PREFIX_PATH=${prefix})
  endforeach()

else()
  message(FATAL_ERROR "package_test.cmake: STEP must be install, consume or components, got \"${STEP}\"")
endif()
