# ctest script: include/sbx.h must compile on its own, first thing in a
# translation unit, as strict C11 and as C++17, and include/sbx.hpp as C++17
# (-Wall -Wextra -Werror -pedantic).
# Run as: cmake -DC_COMPILER=.. -DCXX_COMPILER=.. -DINCLUDE_DIR=.. -DWORK_DIR=.. -P header_check.cmake
file(MAKE_DIRECTORY "${WORK_DIR}")
set(body "#include \"sbx.h\"
int sbx_header_check(void);
int sbx_header_check(void) {
  sbx_config *c = sbx_config_new();
  sbx_host *h = 0;
  sbx_module *m = 0;
  sbx_cancel *k = 0;
  sbx_error *e = 0;
  sbx_function_info info;
  enum sbx_status s = sbx_host_new(c, &h, &e);
  sbx_trap_code t = sbx_error_trap_code(e);
  sbx_value_type v = SBX_VALUE_TYPE_I32;
  (void)info; (void)m; (void)k; (void)t; (void)v;
  sbx_config_free(c);
  return (int)s;
}
")
# sbx.hpp's templates and inline functions are checked by instantiating
# them (unused inline code is not compiled).
set(hpp_body "#include \"sbx.hpp\"
int sbx_hpp_check();
int sbx_hpp_check() {
  try {
    (void)sbx::version(); sbx::config c;
    c.fuel(1).pooling(false);
    sbx::wasi_config w;
    w.arg(\"a\").env(\"k\", \"v\");
    c.wasi(w);
    sbx::host h(c);
    sbx::cancel k(h);
    sbx::load_options o;
    o.cancel(&k).wasi(w).user_data(1);
    sbx::module m = h.load(\"m\", std::vector<std::uint8_t>{}, o);
    return static_cast<int>(m.call(\"f\", {}, 1).size() + m.name().size());
  } catch (const sbx::error &e) {
    return static_cast<int>(e.status());
  }
}
")
file(WRITE "${WORK_DIR}/check.c" "${body}")
file(WRITE "${WORK_DIR}/check.cpp" "${body}")
file(WRITE "${WORK_DIR}/check_hpp.cpp" "${hpp_body}")
set(failed FALSE)
foreach(lang c cpp hpp)
  if(lang STREQUAL "c")
    set(cmd "${C_COMPILER}" -std=c11)
  else()
    set(cmd "${CXX_COMPILER}" -std=c++17)
  endif()
  set(src "${WORK_DIR}/check.${lang}")
  if(lang STREQUAL "hpp")
    set(src "${WORK_DIR}/check_hpp.cpp")
  endif()
  execute_process(
    COMMAND ${cmd} -Wall -Wextra -Werror -pedantic -I${INCLUDE_DIR}
            -c "${src}" -o "${WORK_DIR}/check_${lang}.o"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    # The first few diagnostics are enough; a broken header gives hundreds.
    string(REPLACE ";" "<SEMICOLON>" out "${out}") # not a list separator
    string(REGEX MATCHALL "[^\n]*\n" lines "${out}")
    list(LENGTH lines n)
    if(n GREATER 12)
      list(SUBLIST lines 0 12 lines)
      list(APPEND lines "... (${n} lines in all)\n")
    endif()
    string(JOIN "" out ${lines})
    string(REPLACE "<SEMICOLON>" ";" out "${out}")
    message("${src} (sbx.h or sbx.hpp) does not compile:\n${out}")
    set(failed TRUE)
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "include/sbx.h or include/sbx.hpp is not self-contained")
endif()
message("include/sbx.h compiles on its own as C11 and C++17, include/sbx.hpp as C++17")
