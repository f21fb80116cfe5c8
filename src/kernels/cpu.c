// cpu.c — which instruction sets the kernels may use.
//
// Detection asks the CPU (cpuid) and the OS (xgetbv: are the wide registers
// saved on context switch; arch_prctl: may this process use AMX tiles) once,
// then keeps the answer, capped to the paths this build carries. The SIMD
// files are compiled for their instruction set by target pragma (see
// simd_target.h), so one binary runs everywhere and picks its path here; this
// file itself is plain C.
#include "kernels_internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define KERNELS_X86 1
#endif

// ---- detection ----
#ifdef KERNELS_X86
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int amx_request_permission(void) {
    // Linux >= 5.16: tile data is off until the process asks for it.
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? 0 : -1;
}

static int has_bf16 = 0; // AVX-512 BF16, set by detect()

static kernel_isa detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return KERNEL_ISA_SCALAR;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1;
    if (!fma || !f16c || !osxsave) return KERNEL_ISA_SCALAR;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0xe6) != 0xe6) return KERNEL_ISA_SCALAR; // SSE, AVX, opmask, ZMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return KERNEL_ISA_SCALAR;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); // F DQ BW VL
    if (!avx512) return KERNEL_ISA_SCALAR;
    int amx_tile = (d >> 24) & 1, amx_bf16 = (d >> 22) & 1;
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    int avx512_bf16 = (a1 >> 5) & 1;
    has_bf16 = avx512_bf16;
    if (amx_tile && amx_bf16 && avx512_bf16 && (xcr0 & (3u << 17)) == (3u << 17) &&
        amx_request_permission() == 0)
        return KERNEL_ISA_AMX;
    return KERNEL_ISA_AVX512;
}
#else
static int has_bf16 = 0;
int amx_request_permission(void) { return -1; }
static kernel_isa detect(void) { return KERNEL_ISA_SCALAR; }
#endif

// ---- selection ----
static int detected = -1, cap = -1; // -1: not yet decided

static kernel_isa env_cap(kernel_isa best) {
    const char *e = getenv("LORAC_KERNELS");
    if (!e || !*e) return best;
    for (int i = KERNEL_ISA_SCALAR; i <= KERNEL_ISA_AMX; i++)
        if (strcmp(e, kernel_isa_name((kernel_isa)i)) == 0) return (kernel_isa)i < best ? (kernel_isa)i : best;
    return best;
}

kernel_isa kernels_isa_detected(void) {
    int d = __atomic_load_n(&detected, __ATOMIC_ACQUIRE);
    if (d < 0) {
        d = (int)detect(); // idempotent; a race only repeats the work
        if (d >= KERNEL_ISA_AMX && !kernel_amx_built) d = KERNEL_ISA_AVX512;
        if (d >= KERNEL_ISA_AVX512 && !kernel_avx512_built) d = KERNEL_ISA_SCALAR;
        __atomic_store_n(&detected, d, __ATOMIC_RELEASE);
    }
    return (kernel_isa)d;
}

// AVX-512 BF16 (vdpbf16ps) on this CPU, and the path built (matmul_amx.c).
static int has_avx512_bf16(void) { return kernels_isa_detected() >= KERNEL_ISA_AVX512 && has_bf16 && kernel_amx_built; }

kernel_isa kernels_isa(void) {
    int c = __atomic_load_n(&cap, __ATOMIC_ACQUIRE);
    if (c < 0) {
        c = (int)env_cap(kernels_isa_detected());
        __atomic_store_n(&cap, c, __ATOMIC_RELEASE);
    }
    return (kernel_isa)c;
}

void kernels_set_isa(kernel_isa want) {
    kernel_isa best = kernels_isa_detected();
    __atomic_store_n(&cap, (int)(want < best ? want : best), __ATOMIC_RELEASE);
}

const char *kernel_isa_name(kernel_isa isa) {
    switch (isa) {
    case KERNEL_ISA_SCALAR: return "scalar";
    case KERNEL_ISA_AVX512: return "avx512";
    case KERNEL_ISA_AMX: return "amx";
    }
    return "?";
}

// ---- matmul precision ----
static int precision = -1;

kernel_precision kernels_precision(void) {
    int p = __atomic_load_n(&precision, __ATOMIC_ACQUIRE);
    if (p < 0) {
        const char *e = getenv("LORAC_MATMUL");
        p = e ? kernel_precision_parse(e) : -1;
        if (p < 0) p = KERNEL_PREC_FP32;
        __atomic_store_n(&precision, p, __ATOMIC_RELEASE);
    }
    return (kernel_precision)p;
}

void kernels_set_precision(kernel_precision p) { __atomic_store_n(&precision, (int)p, __ATOMIC_RELEASE); }

const char *kernel_precision_name(kernel_precision p) {
    switch (p) {
    case KERNEL_PREC_FP32: return "fp32";
    case KERNEL_PREC_FAST: return "fast";
    case KERNEL_PREC_BF16: return "bf16";
    }
    return "?";
}

int kernel_precision_parse(const char *name) {
    for (int i = KERNEL_PREC_FP32; i <= KERNEL_PREC_BF16; i++)
        if (strcmp(name, kernel_precision_name((kernel_precision)i)) == 0) return i;
    return -1;
}

kernel_precision kernels_precision_effective(kernel_precision want) {
    kernel_isa isa = kernels_isa();
    if (want == KERNEL_PREC_FAST) return isa >= KERNEL_ISA_AMX ? want : KERNEL_PREC_FP32;
    if (want == KERNEL_PREC_BF16)
        return isa >= KERNEL_ISA_AMX || (isa == KERNEL_ISA_AVX512 && has_avx512_bf16()) ? want : KERNEL_PREC_FP32;
    return KERNEL_PREC_FP32;
}
