// The compiled module sparsketch._core: registers exception translation and each kernel's
// bindings (one bind_<kernel> per file).

#include <pybind11/pybind11.h>

#include <new>

#include "sparsketch/common.hpp"

namespace py = pybind11;

void bind_runtime(py::module_& m);
void bind_fwht(py::module_& m);
void bind_sketch(py::module_& m);
void bind_lstsq(py::module_& m);
void bind_leverage(py::module_& m);
void bind_sparse_wht(py::module_& m);
void bind_spgemm(py::module_& m);
void bind_completion(py::module_& m);
void bind_bcd(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "sparsketch compiled kernels (private; use the sparsketch package)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const sparsketch::type_error& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const sparsketch::value_error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const sparsketch::index_error& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const sparsketch::memory_error& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });
  bind_runtime(m);
  bind_fwht(m);
  bind_sketch(m);
  bind_lstsq(m);
  bind_leverage(m);
  bind_sparse_wht(m);
  bind_spgemm(m);
  bind_completion(m);
  bind_bcd(m);
}
