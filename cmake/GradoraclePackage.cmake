# The CMake package: find_package(gradoracle 0.2 [REQUIRED] [COMPONENTS ...]) against an install
# prefix (cmake --install) or against this build tree (gradoracle_DIR=<build>).
#
# One component per library folder (gradoracle_add_library registers it): its own export set and
# targets file gradoracle-<component>-targets.cmake, imported as gradoracle::<component>. The
# table the config reads (which components each one links, which outside packages) is derived
# here from the targets' link libraries, so it cannot drift from the build: a library that
# links an outside target this file does not know stops the configure.
include(CMakePackageConfigHelpers)


# The outside package a linked target comes from, as find_dependency arguments joined by '|'
# (the minimum versions are those of the top-level find_package calls).
function(gradoracle_package_of target out)
  if(target STREQUAL "Eigen3::Eigen")
    set(package "Eigen3|3.3|CONFIG")
  elseif(target STREQUAL "nlohmann_json::nlohmann_json")
    set(package "nlohmann_json|3.9")
  elseif(target STREQUAL "simdjson::simdjson")
    set(package "simdjson|3.0")
  elseif(target STREQUAL "rapidcheck")
    set(package "rapidcheck")
  elseif(target STREQUAL "CLI11::CLI11")
    set(package "CLI11")
  elseif(target STREQUAL "Threads::Threads")
    set(package "Threads")
  else()
    message(FATAL_ERROR "GradoraclePackage.cmake: a gradoracle library links ${target}; name the package "
                        "it comes from in gradoracle_package_of, so the installed config finds it")
  endif()
  set(${out} ${package} PARENT_SCOPE)
endfunction()

function(gradoracle_write_package)
  set(GRADORACLE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/gradoracle)
  get_property(GRADORACLE_COMPONENTS GLOBAL PROPERTY GRADORACLE_COMPONENTS)  # in add_subdirectory order
  set(GRADORACLE_COMPONENT_TABLE "")
  set(seen "")
  foreach(component IN LISTS GRADORACLE_COMPONENTS)
    get_target_property(public gradoracle_${component} INTERFACE_LINK_LIBRARIES)
    get_target_property(private gradoracle_${component} LINK_LIBRARIES)
    set(needs "")
    set(packages "")
    foreach(item IN LISTS public private)
      if(NOT item)  # a -NOTFOUND property
        continue()
      endif()
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
      if(item MATCHES "^gradoracle::(.+)$")
        set(dependency ${CMAKE_MATCH_1})
        if(NOT dependency IN_LIST seen)
          message(FATAL_ERROR "GradoraclePackage.cmake: gradoracle::${component} links ${item}, which is not an "
                              "installed component added before it")
        endif()
        list(APPEND needs ${dependency})
      else()
        gradoracle_package_of("${item}" package)
        list(APPEND packages ${package})
      endif()
    endforeach()
    list(REMOVE_DUPLICATES needs)
    list(REMOVE_DUPLICATES packages)
    list(APPEND seen ${component})
    string(APPEND GRADORACLE_COMPONENT_TABLE
      "set(_gradoracle_${component}_needs \"${needs}\")\n"
      "set(_gradoracle_${component}_packages \"${packages}\")\n")

    install(EXPORT gradoracle-${component}-targets NAMESPACE gradoracle::
      FILE gradoracle-${component}-targets.cmake DESTINATION ${GRADORACLE_CMAKE_DIR})
    export(EXPORT gradoracle-${component}-targets NAMESPACE gradoracle::
      FILE ${PROJECT_BINARY_DIR}/gradoracle-${component}-targets.cmake)
  endforeach()

  string(REPLACE ";" ", " GRADORACLE_COMPONENT_NAMES "${GRADORACLE_COMPONENTS}")
  # The config and version files sit next to the targets files, in the build tree and installed.
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/gradoracleConfig.cmake.in
    ${PROJECT_BINARY_DIR}/gradoracleConfig.cmake
    INSTALL_DESTINATION ${GRADORACLE_CMAKE_DIR}
    NO_SET_AND_CHECK_MACRO)
  # 0.x: a minor version may change the API, so 0.2 accepts 0.2.y only.
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/gradoracleConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/gradoracleConfig.cmake ${PROJECT_BINARY_DIR}/gradoracleConfigVersion.cmake
    DESTINATION ${GRADORACLE_CMAKE_DIR})

  if(TARGET gradoracle)
    install(TARGETS gradoracle RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endfunction()
gradoracle_write_package()
