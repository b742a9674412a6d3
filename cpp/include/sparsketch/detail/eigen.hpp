#pragma once
/// \file detail/eigen.hpp
/// The one way sparsketch includes Eigen: MPL-2.0 code only (EIGEN_MPL2_ONLY makes the LGPL
/// modules a compile error) and no Eigen-internal threading (EIGEN_DONT_PARALLELIZE: kernels
/// call Eigen on tiles inside their own OpenMP loops, so results never depend on threads).

#ifndef EIGEN_MPL2_ONLY
#define EIGEN_MPL2_ONLY
#endif
#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif

#include <Eigen/Core>
