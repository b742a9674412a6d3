#pragma once
/// \file sparsketch.hpp
/// Umbrella header: everything sparsketch offers to C++ users.
#include "sparsketch/bcd.hpp"
#include "sparsketch/common.hpp"
#include "sparsketch/completion.hpp"
#include "sparsketch/fwht.hpp"
#include "sparsketch/leverage.hpp"
#include "sparsketch/lstsq.hpp"
#include "sparsketch/parallel.hpp"
#include "sparsketch/random.hpp"
#include "sparsketch/sketch.hpp"
#include "sparsketch/sparse_wht.hpp"
#include "sparsketch/spgemm.hpp"
