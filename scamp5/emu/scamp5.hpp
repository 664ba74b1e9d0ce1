// SCAMP-5d SDK facade backed by this project's emulator. Programs include <scamp5.hpp> and
// `using namespace SCAMP5_PE;` exactly as with the real SDK; build with -DSCAMP5_SDK=... to use
// the real one instead. Emulator-only extras live in namespace scamp5_emu (test API: scamp5_emu::host).
#pragma once

#define SCAMP5_EMULATOR 1

#include "scamp5_emu/device.hpp"
#include "scamp5_emu/error_model.hpp"
#include "scamp5_emu/host_api.hpp"
#include "scamp5_emu/image_io.hpp"
#include "scamp5_emu/kernel_api.hpp"
