// The C math functions by name, one overload per type, so that one template body compiles for float
// and double under NVRTC (which has no <cmath>) and under the emulator's host compiler alike.
#pragma once

__device__ __forceinline__ float exp_of(float z) { return expf(z); }
__device__ __forceinline__ double exp_of(double z) { return exp(z); }
__device__ __forceinline__ float log_of(float z) { return logf(z); }
__device__ __forceinline__ double log_of(double z) { return log(z); }
__device__ __forceinline__ float tanh_of(float z) { return tanhf(z); }
__device__ __forceinline__ double tanh_of(double z) { return tanh(z); }
__device__ __forceinline__ float expm1_of(float z) { return expm1f(z); }
__device__ __forceinline__ double expm1_of(double z) { return expm1(z); }
__device__ __forceinline__ float log1p_of(float z) { return log1pf(z); }
__device__ __forceinline__ double log1p_of(double z) { return log1p(z); }
__device__ __forceinline__ float erfc_of(float z) { return erfcf(z); }
__device__ __forceinline__ double erfc_of(double z) { return erfc(z); }
__device__ __forceinline__ float sqrt_of(float z) { return sqrtf(z); }
__device__ __forceinline__ double sqrt_of(double z) { return sqrt(z); }
__device__ __forceinline__ float pow_of(float z, float y) { return powf(z, y); }
__device__ __forceinline__ double pow_of(double z, double y) { return pow(z, y); }
