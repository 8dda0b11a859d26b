// Matrix transpose, dst (cols x rows) = src (rows x cols)^T, row-major float32.
//
// A lesson in memory coalescing. A transpose does no arithmetic: its floor is reading rows*cols
// floats and writing them once, 8 bytes per element, at the device's copy bandwidth. The ladder:
//   1. transpose_naive           reads coalesced, writes strided (each warp's 32 writes land in
//                                32 different rows of dst: 32 memory transactions instead of 1)
//   2. transpose_smem_unpadded   stages a 32x32 tile in shared memory so both the read and the
//                                write are coalesced; the column read from the tile hits one bank
//   3. transpose_smem_tiled      the same with each tile row padded by one float: conflict-free
// Wrappers: cnn_gpu/ops/transpose.py. Tests: tests/ops/test_transpose.py.
// Benchmark: benchmarks/transpose.py.

// One tile is TILE x TILE elements, handled by a TILE x BLOCK_ROWS thread block, each thread
// moving TILE / BLOCK_ROWS elements: fewer threads than elements leaves each thread several
// independent loads in flight.
constexpr int TILE = 32;
constexpr int BLOCK_ROWS = 8;

// ---------------------------------------------------------------------------------------------
// 1. Naive: one thread per element of a TILE x BLOCK_ROWS patch, no shared memory.
// Idea: threadIdx.x runs along a src row, so the loads are coalesced; the stores are not.
// Expected bottleneck: the strided stores, each a separate 32-byte sector for 4 useful bytes.
// Measured (NVIDIA H200, benchmarks/results/transpose.json, commit 27bd7f2): rows=8192 cols=8192 499 GB/s,
// 12% of copy bandwidth (CuPy strided copy 1134); rows=12289 cols=4099 465 GB/s, 11% (CuPy 1104). Confirmed.
extern "C" __global__ void transpose_naive(const float* __restrict__ src, float* __restrict__ dst,
                                           int rows, int cols) {
    const int col = blockIdx.x * TILE + threadIdx.x;
    const int row0 = blockIdx.y * TILE + threadIdx.y;
    for (int row = row0; row < row0 + TILE && row < rows; row += BLOCK_ROWS) {
        if (col < cols) dst[(long long)col * rows + row] = src[(long long)row * cols + col];
    }
}

// The two tiled variants differ only in the tile's row pitch, so they share this body.
// A block reads tile (blockIdx.y, blockIdx.x) of src row by row (coalesced), waits for the whole
// tile, then writes it as tile (blockIdx.x, blockIdx.y) of dst, again row by row: thread x now
// reads column x of the tile, which is where the bank conflicts come from when PITCH == TILE.
template <int PITCH>
__device__ void transpose_through_tile(const float* __restrict__ src, float* __restrict__ dst,
                                       int rows, int cols) {
    __shared__ float tile[TILE * PITCH];
    const int tx = threadIdx.x, ty = threadIdx.y;

    const int src_col = blockIdx.x * TILE + tx;
    for (int r = ty; r < TILE; r += BLOCK_ROWS) {
        const int src_row = blockIdx.y * TILE + r;
        if (src_row < rows && src_col < cols) tile[r * PITCH + tx] = src[(long long)src_row * cols + src_col];
    }
    // Every thread's store above must land before any thread reads another thread's element.
    __syncthreads();

    const int dst_col = blockIdx.y * TILE + tx;  // dst has `rows` columns
    for (int r = ty; r < TILE; r += BLOCK_ROWS) {
        const int dst_row = blockIdx.x * TILE + r;
        if (dst_row < cols && dst_col < rows) dst[(long long)dst_row * rows + dst_col] = tile[tx * PITCH + r];
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Shared-memory tile, rows unpadded.
// Idea: both global accesses coalesced; the transpose happens inside shared memory.
// Expected bottleneck: reading a tile column, the 32 threads of a warp address floats 32 apart,
// all in one bank: a 32-way conflict, the reads serialised.
// Measured (NVIDIA H200, benchmarks/results/transpose.json, commit 27bd7f2): rows=8192 cols=8192 1669 GB/s,
// 40% of copy bandwidth (CuPy strided copy 1134); rows=12289 cols=4099 1647 GB/s, 39% (CuPy 1104).
// The padded tile below is faster on both shapes, as the conflict predicts.
extern "C" __global__ void transpose_smem_unpadded(const float* __restrict__ src, float* __restrict__ dst,
                                                   int rows, int cols) {
    transpose_through_tile<TILE>(src, dst, rows, cols);
}

// ---------------------------------------------------------------------------------------------
// 3. Shared-memory tile, rows padded by one float.
// Idea: a pitch of 33 floats puts consecutive rows of a column in consecutive banks.
// Expected bottleneck: device memory bandwidth; this should approach a copy.
// Measured (NVIDIA H200, benchmarks/results/transpose.json, commit 27bd7f2): rows=8192 cols=8192 3222 GB/s,
// 77% of copy bandwidth (CuPy strided copy 1134: 2.8x slower); rows=12289 cols=4099 2396 GB/s, 57% (CuPy
// 1104: 2.2x); 1.9x and 1.5x the unpadded tile. Short of the copy the expectation says on both shapes,
// furthest on the odd one; the JSON (timed launch by launch) does not say what holds it back.
extern "C" __global__ void transpose_smem_tiled(const float* __restrict__ src, float* __restrict__ dst,
                                                int rows, int cols) {
    transpose_through_tile<TILE + 1>(src, dst, rows, cols);
}
