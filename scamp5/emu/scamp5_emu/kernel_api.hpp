// The register names (namespace SCAMP5_PE, as in the SDK) and the in-kernel instruction set: primitives,
// and the macros built from them exactly as sequences of primitives, so their scratch-register side
// effects and their per-bus-step error come out as on the device.
//
// As in the SDK, the instructions are declared only inside kernel blocks: they live in namespace
// scamp5_emu::instructions, which scamp5_kernel_begin() / scamp5_dynamic_kernel_begin() bring into
// scope. An instruction written outside a kernel is a compile-time error ("'bus' was not declared").
// (ADL cannot find them either: the register types belong to namespace scamp5_emu, not to this one.)
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>

#include "device.hpp"
#include "fail.hpp"

namespace SCAMP5_PE {

using scamp5_emu::areg_t;
using scamp5_emu::dreg_t;

// ---- registers -------------------------------------------------------------------------------
constexpr areg_t A{scamp5_emu::kA}, B{scamp5_emu::kB}, C{scamp5_emu::kC}, D{scamp5_emu::kD},
    E{scamp5_emu::kE}, F{scamp5_emu::kF}, NEWS{scamp5_emu::kNEWS}, XN{scamp5_emu::kXN},
    XE{scamp5_emu::kXE}, XS{scamp5_emu::kXS}, XW{scamp5_emu::kXW}, IN{scamp5_emu::kIN}, PIX{scamp5_emu::kPIX};
constexpr dreg_t R0{0}, R1{1}, R2{2}, R3{3}, R4{4}, R5{5}, R6{6}, R7{7}, R8{8}, R9{9}, R10{10},
    R11{11}, R12{12}, FLAG{scamp5_emu::kFLAG}, SELECT{scamp5_emu::kSELECT}, RECT{scamp5_emu::kRECT};
// SDK aliases.
constexpr dreg_t RF = R0, RS = R1, RW = R2, RN = R3, RE = R4, S0 = R5, S1 = R6, S2 = R7, S3 = R8,
                 S4 = R9, S5 = R10, S6 = R11, RP = R12;

// Directions for movx / DNEWS (bit set = neighbour enabled; R1..R4 = RS RW RN RE).
using news_t = std::uint8_t;
constexpr news_t south = scamp5_emu::kSouth, west = scamp5_emu::kWest, north = scamp5_emu::kNorth,
                 east = scamp5_emu::kEast;

}  // namespace SCAMP5_PE

namespace scamp5_emu::instructions {

using namespace SCAMP5_PE;

namespace detail {
// Bus targets: A..F, NEWS, and XN/XE/XS/XW (the neighbour's NEWS, as the SDK allows: bus(XS, F)).
inline void check_dst(areg_t a) {
    if (!scamp5_emu::is_bus_target(a.id))
        SCAMP5_EMU_THROW(std::invalid_argument(std::string("analogue register ") + scamp5_emu::areg_name(a.id) +
                                    " cannot be written (bus targets: A..F, NEWS, XN, XE, XS, XW)"));
}
inline scamp5_emu::Instr analogue(scamp5_emu::Op op, std::initializer_list<areg_t> dst,
                                  std::initializer_list<areg_t> src) {
    scamp5_emu::Instr in{op};
    if (src.size() > 4) SCAMP5_EMU_THROW(std::invalid_argument("a bus operation takes at most 4 sources"));
    for (areg_t d : dst) {
        check_dst(d);
        in.dst[in.ndst++] = d.id;
    }
    for (areg_t s : src) {
        for (int k = 0; k < in.nsrc; ++k)
            if (in.src[k] == s.id)
                SCAMP5_EMU_THROW(std::invalid_argument(std::string("bus source ") + scamp5_emu::areg_name(s.id) +
                                            " appears twice (each source may drive the bus once)"));
        for (int k = 0; k < in.ndst; ++k)
            if (op != scamp5_emu::Op::Where && in.dst[k] == s.id && s.id != scamp5_emu::kNEWS &&
                op != scamp5_emu::Op::Bus)
                SCAMP5_EMU_THROW(std::invalid_argument("bus2/bus3 cannot read a register it writes"));
        in.src[in.nsrc++] = s.id;
    }
    return in;
}
inline scamp5_emu::Instr digital(scamp5_emu::Op op, std::initializer_list<dreg_t> dst,
                                 std::initializer_list<dreg_t> src) {
    scamp5_emu::Instr in{op};
    if (dst.size() > 4 || src.size() > 4) SCAMP5_EMU_THROW(std::invalid_argument("digital operations take at most 4 registers"));
    for (dreg_t d : dst) {
        if (d.id == scamp5_emu::kFLAG) SCAMP5_EMU_THROW(std::invalid_argument("FLAG is written by where/WHERE/all/ALL only"));
        in.dst[in.ndst++] = d.id;  // up to 3 stored; SET/CLR with 4 use two words
    }
    for (dreg_t s : src) in.src[in.nsrc++] = s.id;
    return in;
}
inline void issue(const scamp5_emu::Instr& i) { scamp5_emu::device().issue(i); }
}  // namespace detail

// ---- analogue primitives -----------------------------------------------------------------------
// bus(a, s...): a := -(s0 + ... + s3) (+ error); bus(a): a := 0 (+ error). FLAG masks the write.
inline void bus(areg_t a) { detail::issue(detail::analogue(scamp5_emu::Op::Bus, {a}, {})); }
inline void bus(areg_t a, areg_t s0) { detail::issue(detail::analogue(scamp5_emu::Op::Bus, {a}, {s0})); }
inline void bus(areg_t a, areg_t s0, areg_t s1) { detail::issue(detail::analogue(scamp5_emu::Op::Bus, {a}, {s0, s1})); }
inline void bus(areg_t a, areg_t s0, areg_t s1, areg_t s2) {
    detail::issue(detail::analogue(scamp5_emu::Op::Bus, {a}, {s0, s1, s2}));
}
inline void bus(areg_t a, areg_t s0, areg_t s1, areg_t s2, areg_t s3) {
    detail::issue(detail::analogue(scamp5_emu::Op::Bus, {a}, {s0, s1, s2, s3}));
}
// bus2(a, b, s...): a := b := -(sum)/2; bus3(a, b, c, s): each := -s/3 (with extra error).
inline void bus2(areg_t a, areg_t b, areg_t s0) { detail::issue(detail::analogue(scamp5_emu::Op::Bus2, {a, b}, {s0})); }
inline void bus2(areg_t a, areg_t b, areg_t s0, areg_t s1) {
    detail::issue(detail::analogue(scamp5_emu::Op::Bus2, {a, b}, {s0, s1}));
}
inline void bus3(areg_t a, areg_t b, areg_t c, areg_t s0) {
    detail::issue(detail::analogue(scamp5_emu::Op::Bus3, {a, b, c}, {s0}));
}
// where(s...): FLAG := (s0 + ... > 0), strictly. all(): FLAG := 1.
inline void where(areg_t s0) { detail::issue(detail::analogue(scamp5_emu::Op::Where, {}, {s0})); }
inline void where(areg_t s0, areg_t s1) { detail::issue(detail::analogue(scamp5_emu::Op::Where, {}, {s0, s1})); }
inline void where(areg_t s0, areg_t s1, areg_t s2) {
    detail::issue(detail::analogue(scamp5_emu::Op::Where, {}, {s0, s1, s2}));
}
inline void all() { detail::issue(scamp5_emu::Instr{scamp5_emu::Op::All}); }

// ---- analogue macros (two bus steps through NEWS unless stated) --------------------------------
inline void mov(areg_t y, areg_t x) { bus(NEWS, x); bus(y, NEWS); }
inline void add(areg_t y, areg_t x0, areg_t x1) { bus(NEWS, x0, x1); bus(y, NEWS); }
inline void add(areg_t y, areg_t x0, areg_t x1, areg_t x2) { bus(NEWS, x0, x1, x2); bus(y, NEWS); }
inline void sub(areg_t y, areg_t x0, areg_t x1) { bus(NEWS, x0); bus(y, NEWS, x1); }
inline void neg(areg_t y, areg_t x) { bus(NEWS); bus(y, NEWS, x); }
// abs: y = |x| (3 bus steps, FLAG left at all()).
inline void abs(areg_t y, areg_t x) {
    bus(NEWS, x);   // NEWS = -x
    bus(y, NEWS);   // y = x
    where(NEWS);    // x < 0
    bus(y, x);      // y = -x there
    all();
}
// divq: y ~ x/2 in two steps (the split adds its own error). The SDK's more accurate div/diva
// are not emulated: the PixelRNN program never divides.
inline void divq(areg_t y, areg_t x) { bus2(NEWS, y, x); bus(y, NEWS); }
// movx(y, x, dir): y = x of the neighbour in dir (east: y[r][c] = x[r][c-1]).
inline areg_t neighbour(news_t dir) {
    switch (dir) {
        case north: return XN;
        case south: return XS;
        case east: return XE;
        case west: return XW;
        default: SCAMP5_EMU_THROW(std::invalid_argument("direction must be one of north, south, east, west"));
    }
}
inline void movx(areg_t y, areg_t x, news_t dir) { bus(NEWS, x); bus(y, neighbour(dir)); }
inline void addx(areg_t y, areg_t x0, areg_t x1, news_t dir) { bus(NEWS, x0, x1); bus(y, neighbour(dir)); }
inline void subx(areg_t y, areg_t x0, news_t dir, areg_t x1) { bus(NEWS, x0); bus(y, neighbour(dir), x1); }
// Two hops: the sign flips once per step, so four steps keep it positive.
inline void mov2x(areg_t y, areg_t x, news_t dir, news_t dir2) {
    bus(NEWS, x);
    bus(NEWS, neighbour(dir));
    bus(NEWS, neighbour(dir2));
    bus(y, NEWS);
}
inline void add2x(areg_t y, areg_t x0, areg_t x1, news_t dir, news_t dir2) {
    bus(NEWS, x0, x1);
    bus(NEWS, neighbour(dir));
    bus(NEWS, neighbour(dir2));
    bus(y, NEWS);
}
inline void sub2x(areg_t y, areg_t x0, news_t dir, news_t dir2, areg_t x1) {
    bus(NEWS, x0);                 // -x0
    bus(NEWS, neighbour(dir));     // x0 one hop away
    bus(NEWS, neighbour(dir2));    // -x0 two hops away
    bus(y, NEWS, x1);              // y = x0(two hops) - x1
}
// get_image: PIX drives the bus with the half-range image (value / 2); the read is followed by the
// photodiode reset (two rpix words and a nop, as the SDK's macro). SDK documentation:
//   get_image(y):    y := half-range image                                   (2 bus steps)
//   get_image(y, h): y := full-range image, h := negative half-range image   (3 bus steps)
inline void reset_pix() {
    detail::issue(scamp5_emu::Instr{scamp5_emu::Op::ResetPix});
    detail::issue(scamp5_emu::Instr{scamp5_emu::Op::ResetPix});
    detail::issue(scamp5_emu::Instr{scamp5_emu::Op::Nop});
}
inline void get_image(areg_t y) {
    bus(NEWS, PIX);  // -p/2
    bus(y, NEWS);    // p/2
    reset_pix();
}
inline void get_image(areg_t y, areg_t h) {
    bus(NEWS, PIX);  // -p/2
    bus(h, PIX);     // -p/2
    bus(y, NEWS, h); // p
    reset_pix();
}

// ---- digital primitives (FLAG does not mask them; writes to R12 are masked by R0) -------------
inline void SET(dreg_t a) { detail::issue(detail::digital(scamp5_emu::Op::DSet, {a}, {})); }
inline void SET(dreg_t a, dreg_t b) { detail::issue(detail::digital(scamp5_emu::Op::DSet, {a, b}, {})); }
inline void SET(dreg_t a, dreg_t b, dreg_t c) { detail::issue(detail::digital(scamp5_emu::Op::DSet, {a, b, c}, {})); }
inline void CLR(dreg_t a) { detail::issue(detail::digital(scamp5_emu::Op::DClr, {a}, {})); }
inline void CLR(dreg_t a, dreg_t b) { detail::issue(detail::digital(scamp5_emu::Op::DClr, {a, b}, {})); }
inline void CLR(dreg_t a, dreg_t b, dreg_t c) { detail::issue(detail::digital(scamp5_emu::Op::DClr, {a, b, c}, {})); }
inline void MOV(dreg_t d, dreg_t s) { detail::issue(detail::digital(scamp5_emu::Op::DMov, {d}, {s})); }
inline void NOT(dreg_t d, dreg_t s) { detail::issue(detail::digital(scamp5_emu::Op::DNot, {d}, {s})); }
inline void OR(dreg_t d, dreg_t s0, dreg_t s1) { detail::issue(detail::digital(scamp5_emu::Op::DOr, {d}, {s0, s1})); }
inline void OR(dreg_t d, dreg_t s0, dreg_t s1, dreg_t s2) {
    detail::issue(detail::digital(scamp5_emu::Op::DOr, {d}, {s0, s1, s2}));
}
inline void OR(dreg_t d, dreg_t s0, dreg_t s1, dreg_t s2, dreg_t s3) {
    detail::issue(detail::digital(scamp5_emu::Op::DOr, {d}, {s0, s1, s2, s3}));
}
inline void NOR(dreg_t d, dreg_t s0, dreg_t s1) { detail::issue(detail::digital(scamp5_emu::Op::DNor, {d}, {s0, s1})); }
inline void NOR(dreg_t d, dreg_t s0, dreg_t s1, dreg_t s2) {
    detail::issue(detail::digital(scamp5_emu::Op::DNor, {d}, {s0, s1, s2}));
}
inline void NOR(dreg_t d, dreg_t s0, dreg_t s1, dreg_t s2, dreg_t s3) {
    detail::issue(detail::digital(scamp5_emu::Op::DNor, {d}, {s0, s1, s2, s3}));
}
inline void WHERE(dreg_t a) { detail::issue(detail::digital(scamp5_emu::Op::DWhere, {}, {a})); }
inline void WHERE(dreg_t a, dreg_t b) { detail::issue(detail::digital(scamp5_emu::Op::DWhere, {}, {a, b})); }
inline void WHERE(dreg_t a, dreg_t b, dreg_t c) { detail::issue(detail::digital(scamp5_emu::Op::DWhere, {}, {a, b, c})); }
inline void ALL() { detail::issue(scamp5_emu::Instr{scamp5_emu::Op::DAll}); }
// DNEWS0/1(d, s): d := OR of the neighbours' s enabled by R1..R4 (RS RW RN RE); edge reads 0 / 1.
inline void DNEWS0(dreg_t d, dreg_t s) { detail::issue(detail::digital(scamp5_emu::Op::DNews0, {d}, {s})); }
inline void DNEWS1(dreg_t d, dreg_t s) { detail::issue(detail::digital(scamp5_emu::Op::DNews1, {d}, {s})); }

// ---- digital macros --------------------------------------------------------------------------
// In-place NOT / OR / NOR: two instruction words each, nothing written besides r (SDK documentation).
inline void nop() { detail::issue(scamp5_emu::Instr{scamp5_emu::Op::Nop}); }
inline void NOT(dreg_t r) { NOT(r, r); nop(); }
inline void OR(dreg_t r, dreg_t x) { OR(r, r, x); nop(); }
inline void NOR(dreg_t r, dreg_t x) { NOR(r, r, x); nop(); }
// AND / NAND leave R0 = NOT y and R12 = NOT x.
inline void AND(dreg_t d, dreg_t x, dreg_t y) { SET(RF); NOT(RP, x); NOT(RF, y); NOR(d, RF, RP); }
inline void NAND(dreg_t d, dreg_t x, dreg_t y) { SET(RF); NOT(RP, x); NOT(RF, y); OR(d, RF, RP); }
// IMP: d = x OR NOT y (material implication y -> x); NIMP: d = NOT x AND y (its negation,
// "y and not x"). Both leave R0 = NOT x.
inline void NIMP(dreg_t d, dreg_t x, dreg_t y) { NOT(RF, y); NOR(d, x, RF); NOT(RF, x); }
inline void IMP(dreg_t d, dreg_t x, dreg_t y) { NOT(RF, y); OR(d, x, RF); NOT(RF, x); }
// MUX, XORX, ANDX / NANDX are not emulated: the program does not use them, and their exact scratch
// use (SDK: MUX leaves R0 = its first source and R12 = the result; XORX writes R0 and its source)
// is not pinned down here.
// CLR_IF(r, x): r := r AND NOT x. Leaves R0 = NOT r (old value).
inline void CLR_IF(dreg_t r, dreg_t x) { NOT(RF, r); NOR(r, RF, x); }
// DNEWS(d, s, dir, boundary): sets R1..R4 from dir, then one DNEWS primitive.
inline void DNEWS(dreg_t d, dreg_t s, news_t dir, int boundary = 0) {
    const dreg_t enables[4] = {RS, RW, RN, RE};
    const news_t bits[4] = {south, west, north, east};
    dreg_t on[4], off[4];
    int non = 0, noff = 0;
    for (int k = 0; k < 4; ++k) (dir & bits[k] ? on[non++] : off[noff++]) = enables[k];
    auto set_group = [](dreg_t* r, int n, bool set) {
        if (n == 1) set ? SET(r[0]) : CLR(r[0]);
        if (n == 2) set ? SET(r[0], r[1]) : CLR(r[0], r[1]);
        if (n == 3) set ? SET(r[0], r[1], r[2]) : CLR(r[0], r[1], r[2]);
        if (n == 4) { set ? SET(r[0], r[1], r[2]) : CLR(r[0], r[1], r[2]); set ? SET(r[3]) : CLR(r[3]); }
    };
    set_group(on, non, true);
    set_group(off, noff, false);
    boundary ? DNEWS1(d, s) : DNEWS0(d, s);
}

}  // namespace scamp5_emu::instructions
