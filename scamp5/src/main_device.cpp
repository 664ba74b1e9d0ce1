// Entry point of the sensor program on a SCAMP-5d device: weights compiled in from the header
// written by `extract_weights.py --header`, the host-fed clip list from the header written by
// `pixelrnn_emu --clips DIR --write-clips-header FILE`. Everything lives in static storage.
#include <scamp5.hpp>

#include "pixelrnn_program.hpp"
#include "pixelrnn_weights_from_header.hpp"

#ifndef PIXELRNN_CLIPS_HEADER
#error "define PIXELRNN_CLIPS_HEADER as the quoted path of the clip list from pixelrnn_emu --write-clips-header"
#endif
#include PIXELRNN_CLIPS_HEADER

int main() {
    static PixelRNNSensorProgram program(pixelrnn_weights_from_header,
                                         PixelRNNClipList{pixelrnn_clips::kRoot, pixelrnn_clips::kClips,
                                                          static_cast<int>(sizeof pixelrnn_clips::kClips /
                                                                           sizeof pixelrnn_clips::kClips[0])});
    program.run();
    return 0;
}
