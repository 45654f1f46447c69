# zuperior_library(NAME [DEPS target...])
#   lib/NAME/*.cpp -> static library zuperior_NAME, alias zuperior::NAME.
#   Headers are included as "NAME/file.hpp" (lib/ is the include root).
function(zuperior_library name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(zuperior_${name} STATIC ${sources})
  add_library(zuperior::${name} ALIAS zuperior_${name})
  target_include_directories(zuperior_${name} PUBLIC ${CMAKE_SOURCE_DIR}/lib)
  target_link_libraries(zuperior_${name} PUBLIC ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY zuperior_libraries zuperior_${name})
endfunction()

# zuperior_unit_test(NAME [DEPS target...])
#   tests/unit/NAME/*.cpp -> one Catch2 executable unit_NAME, registered with ctest.
function(zuperior_unit_test name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_executable(unit_${name} ${sources})
  target_link_libraries(unit_${name} PRIVATE zuperior_catch_main ${ARG_DEPS})
  add_test(NAME unit.${name} COMMAND unit_${name} --order rand --warn NoAssertions)
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 300)
endfunction()

# zuperior_integration_test(NAME SCRIPT [TIMEOUT s])
#   A script under tests/integration run with the built binary in $ZUPERIOR_BIN.
function(zuperior_integration_test name script)
  cmake_parse_arguments(ARG "" "TIMEOUT" "" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME integration.${name} COMMAND ${script}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(integration.${name} PROPERTIES
    LABELS integration TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "ZUPERIOR_BIN=$<TARGET_FILE:zuperior>;ZUPERIOR_SOURCE_DIR=${CMAKE_SOURCE_DIR};ZUPERIOR_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()
