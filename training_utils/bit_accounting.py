"""Bit accounting: each parameter's precision (from its quantizer), what the sensor stores per pixel
and what is read off it per clip (the numbers the paper's memory/bandwidth claims rest on)."""
from __future__ import annotations


from model_utils.binary_layers import quantized_weights

ADC_BITS = 8  # SCAMP-5 reads analogue registers through an 8-bit ADC


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


def state_bits_per_pixel(model) -> float:
    """Memory each pixel keeps between frames (the recurrent state)."""
    return float(model.rnn_model.state_bits)


def readout_bits_per_clip(model) -> int:
    """o_T, one analogue map read once per clip through the ADC."""
    return model.map_size * model.map_size * ADC_BITS


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
              f"on-sensor memory per pixel (recurrent state): {state_bits_per_pixel(model):g} bits",
              f"read off the sensor per clip: {readout_bits_per_clip(model)} bits "
              f"({model.map_size}x{model.map_size} map x {ADC_BITS}-bit ADC)"]
    return "\n".join(lines)
