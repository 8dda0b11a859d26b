// "The last block to finish does the rest": how a kernel whose blocks each leave a partial result
// lets one of them combine the partials in the same launch, instead of a second kernel (gemm_small.cu's
// split-K rung 10c, batchnorm.cu's rung 4).
#pragma once

// Whether this block is the last of `blocks` blocks to count itself in on *counter (zero before the
// launch). Each thread fences its partial stores (__threadfence: GPU-wide, they come before anything
// it does after), the barrier gathers the block, and one thread counts the block in; the block that
// counts last fences again before the barrier lets its threads read the others' partials. The
// programming guide's threadFenceReduction sample makes the same handshake. atomicInc wraps at
// blocks - 1: the last count leaves *counter at zero for the next launch, in the same atomic
// operation. For one-dimensional blocks (thread 0 of x counts); every thread must call it.
__device__ __forceinline__ bool last_block_to_finish(unsigned* __restrict__ counter, unsigned blocks)
{
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicInc(counter, blocks - 1) == blocks - 1;
        if (last) __threadfence();
    }
    __syncthreads();
    return last;
}
