# ctest script: builds consumer.c only through sbx's packaging and runs it.
#   MODE=pkgconfig: cc $(pkg-config --cflags --libs sbx), which links libsbx.a:
#                   run with no library path, so it passes only if the binary
#                   is self-contained; then the same linked against the shared
#                   library (-L$(pkg-config --variable=libdir sbx) -lsbx) and
#                   run with LD_LIBRARY_PATH
#   MODE=cmake:     a CMake project doing find_package(sbx) and linking sbx::sbx
# EMULATOR (optional, one string) runs the binaries, e.g.
# "qemu-aarch64 -L <sysroot>" for a cross-built sbx; C_COMPILER is then the
# cross compiler.
separate_arguments(EMULATOR UNIX_COMMAND "${EMULATOR}")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message("$ ${ARGN}\n${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc})")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "${PKG_CONFIG_DIR}")
  run(${PKG_CONFIG} --exists --print-errors sbx)
  run(${PKG_CONFIG} --cflags sbx)
  separate_arguments(cflags UNIX_COMMAND "${run_output}")
  run(${PKG_CONFIG} --libs sbx)
  separate_arguments(libs UNIX_COMMAND "${run_output}")
  run(${PKG_CONFIG} --variable=libdir sbx)
  string(STRIP "${run_output}" libdir)
  run(${PKG_CONFIG} --static --libs sbx)
  if(NOT run_output MATCHES "-lpthread")
    message(FATAL_ERROR "--static --libs lacks the system libraries")
  endif()
  run(${C_COMPILER} -std=c11 -Wall -Wextra -Werror ${cflags}
      "${SOURCE}" -o "${WORK_DIR}/consumer" ${libs})
  unset(ENV{LD_LIBRARY_PATH})
  run(${EMULATOR} "${WORK_DIR}/consumer" "${TESTDATA}/add.wasm")
  if(NOT run_output MATCHES "add\\(2, 3\\) = 5")
    message(FATAL_ERROR "unexpected consumer output")
  endif()
  run(${C_COMPILER} -std=c11 -Wall -Wextra -Werror ${cflags}
      "${SOURCE}" -o "${WORK_DIR}/consumer_shared" -L${libdir} -lsbx)
  set(ENV{LD_LIBRARY_PATH} "${libdir}")
  run(${EMULATOR} "${WORK_DIR}/consumer_shared" "${TESTDATA}/add.wasm")
elseif(MODE STREQUAL "cmake")
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}"
      -DCMAKE_C_COMPILER=${C_COMPILER} -Dsbx_DIR=${sbx_DIR})
  run(${CMAKE_COMMAND} --build "${WORK_DIR}")
  run(${EMULATOR} "${WORK_DIR}/consumer" "${TESTDATA}/add.wasm")
else()
  message(FATAL_ERROR "MODE must be pkgconfig or cmake")
endif()
if(NOT run_output MATCHES "add\\(2, 3\\) = 5")
  message(FATAL_ERROR "unexpected consumer output")
endif()
