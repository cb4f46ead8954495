// The AVX2 + FMA + F16C build of the CPU kernels (x86-64 only; CMake compiles this file with
// -mavx2 -mfma -mf16c). The dispatchers in the baseline files pick it at run time when the CPU has it.
#define EF_CPU_ISA avx2
#include "channel_attention_cpu.cpp"  // NOLINT(bugprone-suspicious-include)
#include "spatial_gate_cpu.cpp"       // NOLINT(bugprone-suspicious-include)
