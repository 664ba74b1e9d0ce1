// Entry point of the sensor program on a SCAMP-5d device: weights compiled in from the header
// written by `extract_weights.py --header`.
#include <scamp5.hpp>

#include "pixelrnn_program.hpp"
#include "pixelrnn_weights_from_header.hpp"

int main() {
    PixelRNNSensorProgram program(pixelrnn_weights_from_header);
    program.run();
    return 0;
}
