"""Bit accounting: each parameter's precision (from its quantizer), what the sensor stores per pixel
and what is read off it per clip (the numbers the paper's memory/bandwidth claims rest on)."""
from __future__ import annotations


from model_utils.binary_layers import quantized_weights
from model_utils.cells import ADC_BITS


def parameter_rows(model) -> list[dict]:
    """One row per parameter: name, shape, count, bits per value, where it lives."""
    quantized = {name: q.bits for name, _, q in quantized_weights(model)}
    sensor = {id(p) for p in model.sensor_parameters()}
    rows = []
    for name, param in model.named_parameters():
        bits = quantized.get(name, 32)
        rows.append({"name": name, "shape": tuple(param.shape), "count": param.numel(), "bits": bits,
                     "where": "sensor" if id(param) in sensor else "decoder", "trainable": param.requires_grad})
    return rows


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def state_bits_per_pixel(model) -> float:
    """Memory each pixel keeps between frames (the recurrent state, or the previous frame)."""
    return model.stage.memory_bits(model.encoder.output_bits)


def readout_maps_per_clip(model) -> int:
    return model.stage.readout_maps(model.timesteps)


def readout_value_bits(model) -> float:
    return model.stage.readout_bits(model.encoder.output_bits)


def readout_bits_per_clip(model) -> int:
    """Every map read off the sensor per clip, at its values' precision (analogue ones through the ADC)."""
    return int(readout_maps_per_clip(model) * model.map_size * model.map_size * readout_value_bits(model))


def format_table(model) -> str:
    rows = parameter_rows(model)
    lines = [f"{'parameter':<34} {'shape':<16} {'count':>7} {'bits':>5} {'where':<8}",
             "-" * 74]
    for r in rows:
        flag = "" if r["trainable"] else "  (frozen)"
        lines.append(f"{r['name']:<34} {str(r['shape']):<16} {r['count']:>7} {r['bits']:>5g} {r['where']:<8}{flag}")
    sensor_bits = sum(r["count"] * r["bits"] for r in rows if r["where"] == "sensor")
    decoder_bits = sum(r["count"] * r["bits"] for r in rows if r["where"] == "decoder")
    lines += ["-" * 74,
              f"sensor weights: {sensor_bits:g} bits; decoder: {decoder_bits / 8 / 1024:.1f} KiB",
              f"on-sensor memory per pixel (kept between frames): {state_bits_per_pixel(model):g} bits",
              f"read off the sensor per clip: {readout_bits_per_clip(model)} bits "
              f"({readout_maps_per_clip(model)} x {model.map_size}x{model.map_size} map x "
              f"{readout_value_bits(model):g} bits, ADC {ADC_BITS} bits)"]
    return "\n".join(lines)
