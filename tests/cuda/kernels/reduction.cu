// Sum of n floats into *result, in the style of the CUDA samples' reduction: each thread sums a
// grid-strided slice, the block reduces through shared memory down to one warp, the warp finishes
// with shuffles, and thread 0 adds the block's sum to the result atomically.
extern "C" __global__ void reduce_sum(const float* __restrict__ x, float* __restrict__ result, int n) {
    __shared__ float partial[256];
    float sum = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) sum += x[i];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride >= 32; stride /= 2) {
        if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x < 32) {
        sum = partial[threadIdx.x];
        for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffff, sum, offset);
        if (threadIdx.x == 0) atomicAdd(result, sum);
    }
}
