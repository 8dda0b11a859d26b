// What every GEMM kernel shares: the problem's conventions, the epilogue, and the tile loaders.
//
// The problem. C (M x N) = act(alpha * op(A) op(B) + beta * C + bias), float32, all row-major:
//   op(A) is M x K: A is stored M x K (TRANS_A = false) or K x M (TRANS_A = true);
//   op(B) is K x N: B is stored K x N (TRANS_B = false) or N x K (TRANS_B = true).
// Dense needs three of the four: forward x.W (A.B), backward to data dy.W^T (A.B^T), backward to
// weights x^T.dy (A^T.B). Every kernel is a template on (TRANS_A, TRANS_B) and serves all four.
//
// The two operands play symmetric roles: C[m][n] = sum_k A(m, k) B(k, n). So both are handled as
// an "operand" indexed (mn, k), where mn is m for A and n for B, stored either with k contiguous
// (A plain, B transposed) or with mn contiguous (A transposed, B plain). That one bit,
// K_CONTIGUOUS, decides how a tile must be read from global memory to stay coalesced.
#pragma once

#include "ptx.cuh"

// Epilogue options, a bit mask (the wrappers pass it as `flags`).
#define GEMM_EPILOGUE_BIAS 1  // add bias[n] to every row
#define GEMM_EPILOGUE_RELU 2  // clamp at zero, last

// Element (mn, k) of an operand with MN rows of K elements; zero outside the matrix, which is how
// every tiled kernel handles sizes that are not multiples of its tile: the missing rows and columns
// contribute zeros to the dot products, and the stores below are guarded.
template <bool K_CONTIGUOUS>
__device__ __forceinline__ float operand_at(const float* __restrict__ x, int mn, int k, int MN, int K)
{
    if (mn >= MN || k >= K) return 0.0f;
    return K_CONTIGUOUS ? x[(long long)mn * K + k] : x[(long long)k * MN + mn];
}

// An operand as the tile loaders read it: K_CONTIGUOUS, the direction that is contiguous in memory
// (so the loaders know which way to walk to stay coalesced), and element (mn, k), zero outside. A
// stored matrix is one; convolution's implicit GEMM (conv2d.cu) passes operands of its own that
// gather their elements from an image instead, and shares every tile below unchanged.
template <bool CONTIGUOUS_ALONG_K>
struct MatrixOperand {
    static constexpr bool K_CONTIGUOUS = CONTIGUOUS_ALONG_K;
    const float* __restrict__ x;
    int MN, K;
    __device__ __forceinline__ float operator()(int mn, int k) const
    {
        return operand_at<K_CONTIGUOUS>(x, mn, k, MN, K);
    }
};

// One operand value as the (big, small) TF32 pair of 3xTF32; small is unused when !SPLIT. The
// tensor-core rungs build their fragments with it (gemm_tensorcore.cu, and convolution's in conv2d.cu).
// big = tf32(x), rounded to nearest by tf32_round_split (ptx.cuh: cvt.rna's add and mask, without its
// test for NaN, which small carries: x - big is NaN for a NaN x, whatever big is). small = x - big,
// exact in FP32, is left as it is: the tensor core reads an operand's top 19 bits alone (ptx.cuh),
// which cuts small to TF32 for free. Cut rather than rounded, small is off by up to 2^-10 of itself,
// 2^-21 of x, beside the 2^-22 of the dropped small * small: in emulation the error of 16 x 16 x 4096
// went from 4.2e-7 to 4.4e-7 (rung 8's 3xTF32; FP32 FMAs 1.1e-6). With cvt.rna for both parts (three
// SASS instructions each on sm_90: FSETP, a predicated add, a mask), a split took 7 instructions where
// it takes 3, and 10e's main loop was 547-561 instructions a K-tile where it is 418-432 (four warps;
// nvcc 13.0). Infinities and NaN come out as they did: NaN (x - big is NaN where x is infinite, too).
// CVT_BIG rounds big by cvt.rna all the same (f32_to_tf32), for the tiles with no register to spare:
// with tf32_round_split ptxas (13.0) spilled rung 8's 3xTF32 A^T.B at 64 x 32 warps on sm_80.
template <bool SPLIT, bool CVT_BIG = false>
__device__ __forceinline__ void to_tf32(float x, unsigned& big, unsigned& small)
{
    big = SPLIT && !CVT_BIG ? tf32_round_split(x) : f32_to_tf32(x);
    if constexpr (SPLIT) small = float_as_bits(x - tf32_bits_as_float(big));
}

// acc += A B for one 16 x 8 x 8 mma tile in 3xTF32: a chain of three mma from zero, the small cross
// terms first so that they are not lost below big*big's ulp, then one round-to-nearest FADD per
// element into the accumulator (gemm_tensorcore.cu's "Accumulation" says why the chain is short).
__device__ __forceinline__ void mma_3xtf32(float (&acc)[4], const unsigned (&a_big)[4], const unsigned (&a_small)[4],
                                           const unsigned (&b_big)[2], const unsigned (&b_small)[2])
{
    float part[4] = {};
    mma_tf32_m16n8k8(part, a_small, b_big);
    mma_tf32_m16n8k8(part, a_big, b_small);
    mma_tf32_m16n8k8(part, a_big, b_big);
#pragma unroll
    for (int r = 0; r < 4; ++r) acc[r] += part[r];
}

// Where element (mn, k) of a shared tile lies, in its operand's layout: a k-contiguous tile is
// s[mn][k], an mn-contiguous one s[k][mn], rows STRIDE floats apart; and the element itself.
template <bool K_CONTIGUOUS, int STRIDE>
__device__ __forceinline__ int tile_index(int mn, int k)
{
    return K_CONTIGUOUS ? mn * STRIDE + k : k * STRIDE + mn;
}

template <bool K_CONTIGUOUS, int STRIDE>
__device__ __forceinline__ float tile_at(const float* __restrict__ s, int mn, int k)
{
    return s[tile_index<K_CONTIGUOUS, STRIDE>(mn, k)];
}

// One k8-step of a warp's MI x NI tiles of mma.sync m16n8k8 (ptx.cuh): the fragments of B (element
// (k + t + 4r, n + g) of n-tile ni) and of A (element (row, k + t + 4 (r / 2)) of m-tile mi, the row
// the kernel's for half h = r % 2), rounded to TF32, split in two with SPLIT (3xTF32), then the
// products into acc. Lane g = lane / 4, t = lane % 4. The kernel says where each value lies:
// a_at(mi, h, k) and b_at(ni, k) read its shared tiles (gemm_tensorcore.cu, conv2d.cu). CVT_BIG: to_tf32's.
template <bool SPLIT, bool CVT_BIG = false, int MI, int NI, class AAt, class BAt>
__device__ __forceinline__ void warp_mma_k8(float (&acc)[MI][NI][4], AAt a_at, BAt b_at, int k, int t)
{
    unsigned b_big[NI][2], b_small[NI][2];
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
        for (int r = 0; r < 2; ++r) to_tf32<SPLIT, CVT_BIG>(b_at(ni, k + t + 4 * r), b_big[ni][r], b_small[ni][r]);
#pragma unroll
    for (int mi = 0; mi < MI; ++mi) {
        unsigned a_big[4], a_small[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) to_tf32<SPLIT, CVT_BIG>(a_at(mi, r % 2, k + t + 4 * (r / 2)), a_big[r], a_small[r]);
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
            if constexpr (SPLIT) {
                mma_3xtf32(acc[mi][ni], a_big, a_small, b_big[ni], b_small[ni]);
            } else {
                mma_tf32_m16n8k8(acc[mi][ni], a_big, b_big[ni]);
            }
        }
    }
}

// The epilogue's arithmetic on one value of column n, in the reference's order: scale, add
// beta * old (C's value there, which the caller reads only when beta != 0), add bias, ReLU.
// `plain`: the caller knows that beta == 0 and flags == 0 (with_epilogue below): only the scale is left.
__device__ __forceinline__ float epilogue(float acc, float old, const float* __restrict__ bias, int n,
                                          float alpha, float beta, int flags, bool plain = false)
{
    if (plain) return alpha * acc;
    float value = alpha * acc;
    if (beta != 0.0f) value += beta * old;
    if (flags & GEMM_EPILOGUE_BIAS) value += bias[n];
    // max.NaN, not fmaxf: fmaxf(NaN, 0) is 0, which would hide a NaN from everything downstream (the
    // reference's maximum keeps it).
    if (flags & GEMM_EPILOGUE_RELU) value = max_keeping_nan(value, 0.0f);
    return value;
}

// The epilogue of one output element. beta == 0 never reads C, so C may be uninitialised (or NaN)
// then. Out-of-range elements are skipped.
__device__ __forceinline__ void store_output(float* __restrict__ c, const float* __restrict__ bias,
                                             int m, int n, int M, int N, float acc,
                                             float alpha, float beta, int flags, bool plain = false)
{
    if (m >= M || n >= N) return;
    float* out = c + (long long)m * N + n;
    *out = epilogue(acc, !plain && beta != 0.0f ? *out : 0.0f, bias, n, alpha, beta, flags, plain);
}

// A tile's stores, store(kind), run three times over, each with a constant kind: EPILOGUE_PLAIN where
// the epilogue is the plain product alpha * op(A) op(B) (beta == 0, no bias, no ReLU: Dense's backward
// products), EPILOGUE_PLAIN_INSIDE where besides the caller found its whole tile inside C, stored in
// full vectors (pairs or quads), else EPILOGUE_GENERAL. Inlined, each call compiles to a copy of its
// own, from which the tests that its kind makes dead drop out: of beta and flags and every read of C
// in the plain copies, of the bounds too in the inside one. A tile stores tens of outputs a thread,
// each store unrolled with its epilogue inline: in rung 9's 64 x 128 blocks, A.B^T, the general copy
// is some 3000 SASS instructions (nvcc 13.0, sm_90a). A block that runs its code once, over a short K
// (Dense's backward to data, K = 64), runs a plain copy, a small fraction of that, where its warps
// wait for instructions to be fetched (rung 9's comment). COPIES = false keeps the general copy
// alone, for a tile with no registers to spare (it spilled with three). The kind is a value, not a
// type: NVRTC takes a generic lambda (auto parameter) for a host function, and refuses it.
enum EpilogueKind { EPILOGUE_GENERAL, EPILOGUE_PLAIN, EPILOGUE_PLAIN_INSIDE };

template <bool COPIES = true, class Store>
__device__ __forceinline__ void with_epilogue(float beta, int flags, bool inside, Store store)
{
    if (COPIES && beta == 0.0f && flags == 0) {
        if (inside)
            store(EPILOGUE_PLAIN_INSIDE);
        else
            store(EPILOGUE_PLAIN);
    } else {
        store(EPILOGUE_GENERAL);
    }
}

// Whether store_output_pair may store its two outputs as one 8-byte float2: N even and C 8-byte
// aligned, so that every row of C starts 8-byte aligned and an even column is too. Asked once per
// kernel, like float4_loads_fit below.
__device__ __forceinline__ bool output_pairs_fit(const float* c, int N)
{
    return N % 2 == 0 && reinterpret_cast<unsigned long long>(c) % 8 == 0;
}

// Whether store_output_quad may store its four outputs as one 16-byte float4: N a multiple of 4 and
// C 16-byte aligned (as output_pairs_fit, for 16 bytes).
__device__ __forceinline__ bool output_quads_fit(const float* c, int N)
{
    return N % 4 == 0 && reinterpret_cast<unsigned long long>(c) % 16 == 0;
}

// The epilogue of four adjacent outputs of a row, (m, n) to (m, n + 3) with n a multiple of 4, from
// acc[0..3]: one 16-byte store when `quads` (output_quads_fit) and all four lie inside C (as they do
// where `kind` is EPILOGUE_PLAIN_INSIDE), else store_output's four.
__device__ __forceinline__ void store_output_quad(float* __restrict__ c, const float* __restrict__ bias, int m,
                                                  int n, int M, int N, const float* acc, float alpha, float beta,
                                                  int flags, bool quads, EpilogueKind kind = EPILOGUE_GENERAL)
{
    const bool plain = kind != EPILOGUE_GENERAL;
    if (kind == EPILOGUE_PLAIN_INSIDE || (quads && m < M && n + 3 < N)) {
        float4* out = reinterpret_cast<float4*>(c + (long long)m * N + n);
        const float4 old = !plain && beta != 0.0f ? *out : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        *out = make_float4(epilogue(acc[0], old.x, bias, n + 0, alpha, beta, flags, plain),
                           epilogue(acc[1], old.y, bias, n + 1, alpha, beta, flags, plain),
                           epilogue(acc[2], old.z, bias, n + 2, alpha, beta, flags, plain),
                           epilogue(acc[3], old.w, bias, n + 3, alpha, beta, flags, plain));
        return;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) store_output(c, bias, m, n + j, M, N, acc[j], alpha, beta, flags, plain);
}

// The epilogue of two adjacent outputs of a row, (m, n) and (m, n + 1) with n even, as the tensor
// cores' fragments hold them (a lane's accumulators come in such pairs): one 8-byte store when
// `pairs` (output_pairs_fit) and both lie inside C (as they do where `kind` is
// EPILOGUE_PLAIN_INSIDE), else store_output's two. The 4 lanes of a warp
// that share a row then write 32 contiguous bytes, a whole sector, with one instruction, where
// single floats 8 bytes apart took two instructions that each filled half of every sector.
__device__ __forceinline__ void store_output_pair(float* __restrict__ c, const float* __restrict__ bias,
                                                  int m, int n, int M, int N, float acc0, float acc1,
                                                  float alpha, float beta, int flags, bool pairs,
                                                  EpilogueKind kind = EPILOGUE_GENERAL)
{
    const bool plain = kind != EPILOGUE_GENERAL;
    if (kind == EPILOGUE_PLAIN_INSIDE || (pairs && m < M && n + 1 < N)) {
        float2* out = reinterpret_cast<float2*>(c + (long long)m * N + n);
        const float2 old = !plain && beta != 0.0f ? *out : make_float2(0.0f, 0.0f);
        *out = make_float2(epilogue(acc0, old.x, bias, n, alpha, beta, flags, plain),
                           epilogue(acc1, old.y, bias, n + 1, alpha, beta, flags, plain));
        return;
    }
    store_output(c, bias, m, n, M, N, acc0, alpha, beta, flags, plain);
    store_output(c, bias, m, n + 1, M, N, acc1, alpha, beta, flags, plain);
}

// Copy the ROWS x BK tile starting at (mn0, k0) of an operand into shared memory as s[k][mn]
// (row stride STRIDE >= ROWS), zero-filling outside the matrix; all NTHREADS threads take part.
// Consecutive threads walk the operand's contiguous dimension, so each warp reads whole 32-byte
// sectors of global memory whichever way the operand is stored (whole 128-byte lines where the
// tile's contiguous extent is 32 floats or more). With k contiguous that means
// consecutive threads write down a column of s; STRIDE is padded so those writes hit distinct banks.
template <int ROWS, int BK, int STRIDE, int NTHREADS, class Operand>
__device__ __forceinline__ void load_operand_tile(float* __restrict__ s, const Operand& operand, int mn0, int k0,
                                                  int tid)
{
#pragma unroll
    for (int i = tid; i < ROWS * BK; i += NTHREADS) {
        const int mn = Operand::K_CONTIGUOUS ? i / BK : i % ROWS;
        const int k = Operand::K_CONTIGUOUS ? i % BK : i / ROWS;
        s[k * STRIDE + mn] = operand(mn0 + mn, k0 + k);
    }
}

// load_operand_tile for a stored matrix.
template <bool K_CONTIGUOUS, int ROWS, int BK, int STRIDE, int NTHREADS>
__device__ __forceinline__ void load_tile(float* __restrict__ s, const float* __restrict__ x,
                                          int mn0, int k0, int MN, int K, int tid)
{
    load_operand_tile<ROWS, BK, STRIDE, NTHREADS>(s, MatrixOperand<K_CONTIGUOUS>{x, MN, K}, mn0, k0, tid);
}

// The main loop of a block tile whose loads are not pipelined (RegisterBlockedTile below, and
// convolution's TensorCoreTile): per K-tile from k_begin to k_end, load(as, bs, k0) fills the shared
// tiles (A_FLOATS and B_FLOATS floats), every thread taking part; once all of it has landed,
// compute(as, bs) reads them; and nobody overwrites them for the next K-tile while others still do.
template <int BK, int A_FLOATS, int B_FLOATS, class Load, class Compute>
__device__ __forceinline__ void shared_tile_loop(Load load, Compute compute, int k_begin, int k_end)
{
    __shared__ float as[A_FLOATS];
    __shared__ float bs[B_FLOATS];
    for (int k0 = k_begin; k0 < k_end; k0 += BK) {
        load(as, bs, k0);
        __syncthreads();
        compute(as, bs);
        __syncthreads();
    }
}

// The register-blocked block tile of gemm_regblock_2d (rung 5 in gemm_simt.cu), which gemm_split_k
// (gemm_small.cu) runs over one slice of K, and convolution's implicit GEMM (conv2d.cu) over
// operands gathered from images (accumulate_operands). A block of (BM / TM) * (BN / TN) threads
// owns a BM x BN tile of C; thread t accumulates the TM x TN outer products of rows row0 + i and
// columns col0 + j. accumulate() walks the K-tiles from k_begin to k_end: the block copies a
// BK-deep tile of each operand into shared memory, k-major (load_tile), then every thread loads TM
// values of A and TN of B into registers per k and does TM * TN FMAs with them. The loaders zero-fill past K only, so a
// range must end at K or span whole K-tiles.
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int TM, int TN>
struct RegisterBlockedTile {
    static_assert(TN % 4 == 0, "a thread's columns go to split-K's workspace as whole float4s");
    static constexpr int BLOCK_M = BM, BLOCK_N = BN, BLOCK_K = BK, NTHREADS = (BM / TM) * (BN / TN);
    static constexpr int A_STRIDE = BM + 4, B_STRIDE = BN + 4;
    // Its shared tiles are k-major, s[k][mn], whichever way round the operands are (tile_index); the
    // implicit GEMM's loaders (conv2d.cu) ask a_index and b_index where an element goes.
    static constexpr bool A_TILE_K_CONTIGUOUS = false, B_TILE_K_CONTIGUOUS = false;
    __device__ static __forceinline__ int a_index(int m, int k) { return tile_index<false, A_STRIDE>(m, k); }
    __device__ static __forceinline__ int b_index(int n, int k) { return tile_index<false, B_STRIDE>(n, k); }
    const int row0 = (threadIdx.x / (BN / TN)) * TM, col0 = (threadIdx.x % (BN / TN)) * TN;
    float acc[TM][TN] = {};

    __device__ __forceinline__ void accumulate(const float* __restrict__ a, const float* __restrict__ b,
                                               int m0, int n0, int M, int N, int K, int k_begin, int k_end)
    {
        accumulate_operands(MatrixOperand<!TRANS_A>{a, M, K}, MatrixOperand<TRANS_B>{b, N, K}, m0, n0, k_begin, k_end);
    }

    // The same over any two operands (MatrixOperand's interface); TRANS_A and TRANS_B then play no part.
    template <class OperandA, class OperandB>
    __device__ __forceinline__ void accumulate_operands(const OperandA& a, const OperandB& b, int m0, int n0,
                                                        int k_begin, int k_end)
    {
        accumulate_tiles(
            [&](float* as, float* bs, int k0) {
                load_operand_tile<BM, BK, A_STRIDE, NTHREADS>(as, a, m0, k0, threadIdx.x);
                load_operand_tile<BN, BK, B_STRIDE, NTHREADS>(bs, b, n0, k0, threadIdx.x);
            },
            k_begin, k_end);
    }

    // The loop itself, over the K-tiles from k_begin to k_end, which load(as, bs, k0) copies into the
    // shared tiles as[k][m] (row stride A_STRIDE) and bs[k][n] (B_STRIDE), every thread taking part:
    // for a loader of its own, as convolution's precomputed gather (conv2d.cu).
    template <class Load>
    __device__ __forceinline__ void accumulate_tiles(Load load, int k_begin, int k_end)
    {
        shared_tile_loop<BK, BK * A_STRIDE, BK * B_STRIDE>(
            load,
            [&](const float* as, const float* bs) {  // as[k][m], bs[k][n]
                float a_frag[TM], b_frag[TN];
#pragma unroll
                for (int k = 0; k < BK; ++k) {
#pragma unroll
                    for (int i = 0; i < TM; ++i) a_frag[i] = as[k * A_STRIDE + row0 + i];
#pragma unroll
                    for (int j = 0; j < TN; ++j) b_frag[j] = bs[k * B_STRIDE + col0 + j];
#pragma unroll
                    for (int i = 0; i < TM; ++i)
#pragma unroll
                        for (int j = 0; j < TN; ++j) acc[i][j] += a_frag[i] * b_frag[j];
                }
            },
            k_begin, k_end);
    }

    // The tile through the epilogue into C (M x N), at block offset (m0, n0).
    __device__ __forceinline__ void store(float* __restrict__ c, const float* __restrict__ bias, int m0, int n0,
                                          int M, int N, float alpha, float beta, int flags) const
    {
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j)
                store_output(c, bias, m0 + row0 + i, n0 + col0 + j, M, N, acc[i][j], alpha, beta, flags);
    }

    // The raw sums into one slice of split-K's workspace (rows of N4 floats, N rounded up to 4): a
    // float4 whose first column is inside C goes out whole (its columns past N hold the zeros the
    // zero-filled B tile left there, which the reduce never stores), as one STG.128.
    __device__ __forceinline__ void store_partials(float* __restrict__ slice, int m0, int n0, int M, int N,
                                                   int N4) const
    {
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + row0 + i;
#pragma unroll
            for (int j = 0; j < TN; j += 4) {
                const int n = n0 + col0 + j;
                if (m < M && n < N)
                    *reinterpret_cast<float4*>(slice + (long long)m * N4 + n) =
                        make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
            }
        }
    }
};

// Whether the 16-byte paths below may be used: every 4-float vector of A and B then lies wholly
// inside or wholly outside its matrix (the contiguous extents, K or M for A and K or N for B, are
// multiples of 4) and is 16-byte aligned. The kernels ask once and pass the answer to the loaders;
// the branch is uniform, and a problem that fails the test takes the 4-byte path.
template <bool TRANS_A, bool TRANS_B>
__device__ __forceinline__ bool float4_loads_fit(const float* a, const float* b, int M, int N, int K)
{
    const int a_extent = TRANS_A ? M : K, b_extent = TRANS_B ? K : N;
    const unsigned long long addresses = reinterpret_cast<unsigned long long>(a) | reinterpret_cast<unsigned long long>(b);
    return a_extent % 4 == 0 && b_extent % 4 == 0 && addresses % 16 == 0;
}

// The same tile with float4 loads when `wide` (one 16-byte LDG.E.128 per thread and vector), else
// load_tile's scalar ones. A vector along mn is stored as it is (one STS.128); a vector along k is
// scattered down the column s[k..k+3][mn].
template <bool K_CONTIGUOUS, int ROWS, int BK, int STRIDE, int NTHREADS>
__device__ __forceinline__ void load_tile_vectorized(float* __restrict__ s, const float* __restrict__ x,
                                                     int mn0, int k0, int MN, int K, int tid, bool wide)
{
    if (!wide) {
        load_tile<K_CONTIGUOUS, ROWS, BK, STRIDE, NTHREADS>(s, x, mn0, k0, MN, K, tid);
        return;
    }
    static_assert(ROWS % 4 == 0 && BK % 4 == 0 && STRIDE % 4 == 0, "float4 tiles");
    constexpr int PER_LINE = K_CONTIGUOUS ? BK / 4 : ROWS / 4;  // vectors along the contiguous dimension
#pragma unroll
    for (int i = tid; i < ROWS * BK / 4; i += NTHREADS) {
        const int mn = K_CONTIGUOUS ? i / PER_LINE : (i % PER_LINE) * 4;
        const int k = K_CONTIGUOUS ? (i % PER_LINE) * 4 : i / PER_LINE;
        const int gmn = mn0 + mn, gk = k0 + k;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (gmn < MN && gk < K)
            v = *reinterpret_cast<const float4*>(K_CONTIGUOUS ? x + (long long)gmn * K + gk
                                                              : x + (long long)gk * MN + gmn);
        if (K_CONTIGUOUS) {
            s[(k + 0) * STRIDE + mn] = v.x;
            s[(k + 1) * STRIDE + mn] = v.y;
            s[(k + 2) * STRIDE + mn] = v.z;
            s[(k + 3) * STRIDE + mn] = v.w;
        } else {
            *reinterpret_cast<float4*>(&s[k * STRIDE + mn]) = v;
        }
    }
}

// The tile copied with cp.async, in the operand's own layout since cp.async cannot transpose:
// k contiguous -> s[mn][k] (row stride STRIDE >= BK), mn contiguous -> s[k][mn] (STRIDE >= ROWS).
// Copies are VEC floats wide (4: cp.async.cg of 16 bytes, 1: cp.async.ca of 4 bytes), each wholly
// inside the matrix or wholly outside (VEC = 4 only when float4_loads_fit), so a copy reads all its
// bytes or none: src-size 0 zero-fills one outside, and its source pointer is clamped to x to stay
// valid.
//   A line is a row of the tile (k contiguous) or a k (mn contiguous); copy i is vector i % PER_LINE
// of line i / PER_LINE, so consecutive threads walk the contiguous dimension and a warp reads whole
// 128-byte lines (and, k contiguous, writes rows BK + 4 words apart: distinct banks). Thread tid
// issues copies tid + j * NTHREADS, a compile-time count of them, which unrolls; a pass of the block
// covers whole lines, so they are at one position along the line, LINE_STEP lines apart. The
// thread's line, position and shared offsets do not depend on the K-tile: per K-tile only k0 moves
// the source pointer and one bound. The shared offsets are steps from one shared address, which
// ptxas folds into the copies' immediate offsets. In the SASS (nvcc 13.0, sm_90, default tilings,
// 16-byte path; instruction counts, not GPU timings) a K-tile's copies of both operands take 74-77
// instructions per thread in rung 7 (8 copies; the loop over i = tid, tid + NTHREADS, ... it
// replaces, whose trip count nvcc could not know, took 361-380) and 118-122 in rung 8's TF32 (16
// copies; before, 686-720). Per copy that is a pointer step, a compare, the clamp and the copy.
// Every declared tiling makes whole passes; one that does not (a line longer than the block, or a
// last pass that only some threads have) fails the static_asserts rather than dropping copies.
template <bool K_CONTIGUOUS, int ROWS, int BK, int STRIDE, int NTHREADS, int VEC>
__device__ __forceinline__ void copy_tile_async(float* __restrict__ s, const float* __restrict__ x,
                                                int mn0, int k0, int MN, int K, int tid)
{
    static_assert(ROWS % VEC == 0 && BK % VEC == 0 && STRIDE % VEC == 0, "whole vectors");
    constexpr int PER_LINE = (K_CONTIGUOUS ? BK : ROWS) / VEC, LINES = K_CONTIGUOUS ? ROWS : BK;
    static_assert(NTHREADS % PER_LINE == 0, "a pass of the block covers whole lines");
    constexpr int LINE_STEP = NTHREADS / PER_LINE;
    static_assert(LINES % LINE_STEP == 0, "whole passes: every thread issues the same number of copies");
    const int line = tid / PER_LINE, along = (tid % PER_LINE) * VEC;
    const int gline = (K_CONTIGUOUS ? mn0 : k0) + line;   // the thread's first line in the operand
    const int galong = (K_CONTIGUOUS ? k0 : mn0) + along;  // and its position along every line
    const int lines_left = (K_CONTIGUOUS ? MN : K) - gline, extent = K_CONTIGUOUS ? K : MN;
    const bool along_inside = galong < extent;
    const float* src = x + (long long)gline * extent + galong;
    const long long src_step = (long long)LINE_STEP * extent;
    const unsigned dst = shared_address(s) + 4 * (line * STRIDE + along);
#pragma unroll
    for (int j = 0; j < LINES / LINE_STEP; ++j) {
        const bool inside = along_inside && lines_left > j * LINE_STEP;
        cp_async<VEC * 4>(dst + 4 * j * LINE_STEP * STRIDE, inside ? src : x, inside ? VEC * 4 : 0);
        src += src_step;
    }
}

// The same copies as copy_tile_async, in a loop over the tile's copy index i = tid, tid + NTHREADS, ...
// whose trip count nvcc cannot know: it unrolls it by 4 with a remainder and recomputes every address
// from i each K-tile (about 45 instructions a copy, against about 10), but keeps nothing live across
// K-tiles. 3xTF32 (gemm_tensorcore.cu) needs that: its default tiling takes all 255 registers, and the
// state copy_tile_async keeps between K-tiles made one instance or another spill (which one changed
// with every rewrite of the loader tried, nvcc 13.0, sm_80 and sm_90). Each copy clips at the matrix
// edge with src_bytes.
template <bool K_CONTIGUOUS, int ROWS, int BK, int STRIDE, int NTHREADS, int VEC>
__device__ __forceinline__ void copy_tile_async_recomputed(float* __restrict__ s, const float* __restrict__ x,
                                                           int mn0, int k0, int MN, int K, int tid)
{
    constexpr int PER_LINE = K_CONTIGUOUS ? BK / VEC : ROWS / VEC;
#pragma unroll
    for (int i = tid; i < ROWS * BK / VEC; i += NTHREADS) {
        const int along = (i % PER_LINE) * VEC;  // position along the contiguous dimension
        const int line = i / PER_LINE;           // which row (k contiguous) or k (mn contiguous)
        const int gline = (K_CONTIGUOUS ? mn0 : k0) + line;
        const int galong = (K_CONTIGUOUS ? k0 : mn0) + along;
        const int lines = K_CONTIGUOUS ? MN : K, extent = K_CONTIGUOUS ? K : MN;
        int valid = gline < lines ? extent - galong : 0;
        valid = valid < 0 ? 0 : (valid > VEC ? VEC : valid);
        const float* src = valid > 0 ? x + (long long)gline * extent + galong : x;
        cp_async<VEC * 4>(s + line * STRIDE + along, src, valid * 4);
    }
}

// copy_tile_async 16 bytes at a time when `wide` (float4_loads_fit), else 4 bytes at a time; with
// RECOMPUTE, copy_tile_async_recomputed.
template <bool K_CONTIGUOUS, int ROWS, int BK, int STRIDE, int NTHREADS, bool RECOMPUTE>
__device__ __forceinline__ void load_tile_async(float* __restrict__ s, const float* __restrict__ x,
                                                int mn0, int k0, int MN, int K, int tid, bool wide)
{
    if constexpr (RECOMPUTE) {
        if (wide) copy_tile_async_recomputed<K_CONTIGUOUS, ROWS, BK, STRIDE, NTHREADS, 4>(s, x, mn0, k0, MN, K, tid);
        else copy_tile_async_recomputed<K_CONTIGUOUS, ROWS, BK, STRIDE, NTHREADS, 1>(s, x, mn0, k0, MN, K, tid);
    } else {
        if (wide) copy_tile_async<K_CONTIGUOUS, ROWS, BK, STRIDE, NTHREADS, 4>(s, x, mn0, k0, MN, K, tid);
        else copy_tile_async<K_CONTIGUOUS, ROWS, BK, STRIDE, NTHREADS, 1>(s, x, mn0, k0, MN, K, tid);
    }
}

// The shared-memory buffers of the cp.async kernels: STAGES of them, each an A tile then a B tile,
// in dynamic shared memory (the larger tilings need more than the 48 KB a static array may have).
// Each tile keeps its operand's layout (load_tile_async): k contiguous -> s[mn][k] with row stride
// BK + 4, mn contiguous -> s[k][mn] with row stride ROWS + MN_PAD; each kernel says how its strides
// keep its fragment reads free of bank conflicts. Tiling.shared_bytes in cnn_gpu/ops/gemm_variants.py sizes
// the launch's dynamic shared memory by the same layout. RECOMPUTE picks the copies' loader
// (load_tile_async): only 3xTF32's large warp tiles, out of registers, set it.
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int MN_PAD, int STAGES, int NTHREADS, bool RECOMPUTE = false>
struct StagedTiles {
    static constexpr bool A_K_CONTIGUOUS = !TRANS_A, B_K_CONTIGUOUS = TRANS_B;  // is the operand k-contiguous?
    static constexpr int A_STRIDE = A_K_CONTIGUOUS ? BK + 4 : BM + MN_PAD;
    static constexpr int B_STRIDE = B_K_CONTIGUOUS ? BK + 4 : BN + MN_PAD;
    static constexpr int A_FLOATS = A_K_CONTIGUOUS ? BM * A_STRIDE : BK * A_STRIDE;
    static constexpr int B_FLOATS = B_K_CONTIGUOUS ? BN * B_STRIDE : BK * B_STRIDE;
    static_assert(A_STRIDE % 4 == 0 && B_STRIDE % 4 == 0, "16-byte copies need 16-byte aligned rows");

    float* smem;  // STAGES * (A_FLOATS + B_FLOATS) floats, 16-byte aligned

    __device__ __forceinline__ float* a_tile(int stage) const { return smem + stage * (A_FLOATS + B_FLOATS); }
    __device__ __forceinline__ float* b_tile(int stage) const { return a_tile(stage) + A_FLOATS; }

    // Issue this thread's copies of K-tile k_tile (A's rows from m0, B's columns from n0) into
    // buffer `stage`; every thread of the block takes part.
    __device__ __forceinline__ void load(int stage, int k_tile, const float* __restrict__ a,
                                         const float* __restrict__ b, int m0, int n0, int M, int N, int K, int tid,
                                         bool wide) const
    {
        load_tile_async<A_K_CONTIGUOUS, BM, BK, A_STRIDE, NTHREADS, RECOMPUTE>(a_tile(stage), a, m0, k_tile * BK, M, K,
                                                                               tid, wide);
        load_tile_async<B_K_CONTIGUOUS, BN, BK, B_STRIDE, NTHREADS, RECOMPUTE>(b_tile(stage), b, n0, k_tile * BK, N, K,
                                                                               tid, wide);
    }
};

// The software pipeline of the cp.async kernels: STAGES shared-memory buffers, the copies for tile
// t + STAGES - 1 in flight while tile t is computed. load(stage, k_tile) issues one tile's copies,
// compute(stage) consumes one. Every iteration commits a group, even an empty one at the end, so
// that "wait until at most STAGES - 2 groups are pending" always means "tile t has landed".
// ROLLED (the default where the prologue is more than two loads): the prologue's loads run as a loop,
// not unrolled, so that load's code is in the kernel twice, here and in the main loop, not STAGES
// times. Unrolled, the prologue held 1063 of rung 7's 3312 SASS instructions at 32 x 64 and 5 stages
// (A.B^T, sm_90, nvcc 13.0): code that a block with few K-tiles, as in Dense's backward to data
// (K = 64), runs once each and must first fetch. Rung 8's 3xTF32 at its 64 x 32 warps, at the edge of
// its registers, passes ROLLED = false (MmaTile::REGISTER_BOUND); its 32 x 32 A^T.B spilled
// with the loop too while its copies recomputed their addresses, and takes it since they do not.
// (wgmma_mainloop goes further and folds its prologue into the main loop; done here, that spilled
// rung 8's 128 x 128 3xTF32 too.)
template <int STAGES, bool ROLLED = (STAGES > 3), class Load, class Compute>
__device__ __forceinline__ void pipelined_mainloop(int k_tiles, Load load, Compute compute)
{
#pragma unroll(ROLLED ? 1 : STAGES - 1)
    for (int stage = 0; stage < STAGES - 1; ++stage) {
        if (stage < k_tiles) load(stage, stage);
        cp_async_commit();
    }
    for (int t = 0; t < k_tiles; ++t) {
        cp_async_wait<STAGES - 2>();
        // Tile t is visible to every thread, and every thread is done with tile t - 1, whose
        // buffer the next load overwrites.
        __syncthreads();
        const int next = t + STAGES - 1;
        if (next < k_tiles) load(next % STAGES, next);
        cp_async_commit();
        compute(t % STAGES);
    }
}

// ---- the warp-tiled block tile of gemm_warptiled_double_buffered (rung 7, gemm_simt.cu, whose
// comment explains the lane layout), which gemm_split_k_warptiled (gemm_small.cu) runs over one
// slice of K. ---------------------------------------------------------------------------------------
// The mn offset (within the warp tile) of a lane's i-th row or column, for the lane's index lane_x
// along that dimension (lane_x < LANES: LANES_M = 8 lane positions along m, LANES_N = 4 along n):
// runs of 4 adjacent ones, LANES * 4 apart (RUNS), or single ones LANES apart.
template <bool RUNS, int LANES>
__device__ __forceinline__ int fragment_mn(int lane_x, int i)
{
    return RUNS ? (i / 4) * (LANES * 4) + lane_x * 4 + i % 4 : lane_x + LANES * i;
}

// A lane's COUNT values (a multiple of 4) at k and k + 1 from one operand's tile, whichever its
// layout, at the mn offsets fragment_mn<RUNS> gives (an mn-contiguous tile is read in runs of 4).
template <bool K_CONTIGUOUS, bool RUNS, int STRIDE, int LANES, int COUNT>
__device__ __forceinline__ void load_fragment(float (&f)[2][COUNT], const float* __restrict__ s, int warp_mn,
                                              int lane_x, int k)
{
    static_assert(K_CONTIGUOUS || RUNS, "an mn-contiguous tile is read a float4 (a run of 4) at a time");
    if constexpr (K_CONTIGUOUS) {
#pragma unroll
        for (int i = 0; i < COUNT; ++i) {
            const float2 v = *reinterpret_cast<const float2*>(&s[(warp_mn + fragment_mn<RUNS, LANES>(lane_x, i)) * STRIDE + k]);
            f[0][i] = v.x;
            f[1][i] = v.y;
        }
    } else {
#pragma unroll
        for (int q = 0; q < 2; ++q)
#pragma unroll
            for (int h = 0; h < COUNT / 4; ++h) {
                const float4 v = *reinterpret_cast<const float4*>(&s[(k + q) * STRIDE + warp_mn + fragment_mn<true, LANES>(lane_x, h * 4)]);
                f[q][h * 4 + 0] = v.x; f[q][h * 4 + 1] = v.y; f[q][h * 4 + 2] = v.z; f[q][h * 4 + 3] = v.w;
            }
    }
}

// A block of (BM / WM) x (BN / WN) warps owns a BM x BN tile of C; the 8 x 4 lanes of a warp own
// TM x TN outputs each of its WM x WN warp tile (8 x 8 for 64 x 32). accumulate() walks the K-tiles
// from k_begin to k_end through STAGES cp.async buffers (pipelined_mainloop) in the launch's dynamic
// shared memory, `smem`; like RegisterBlockedTile's, a range must end at K or span whole K-tiles.
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int WM, int WN, int STAGES>
struct WarpTiledTile {
    static constexpr int LANES_M = 8, LANES_N = 4, TM = WM / LANES_M, TN = WN / LANES_N;
    static_assert(WM % LANES_M == 0 && WN % LANES_N == 0 && TM % 4 == 0 && TN % 4 == 0,
                  "a lane's rows and columns come in runs of 4 (one LDS.128 each where mn-contiguous)");
    static_assert(BM % WM == 0 && BN % WN == 0, "whole warp tiles");
    static_assert(BK % 8 == 0, "K-tiles of whole float4s, and row strides BK + 4 that keep the fragment reads "
                  "free of bank conflicts (at BK = 4 a k-contiguous B's rows 4 apart share a bank)");
    static constexpr int BLOCK_M = BM, BLOCK_N = BN, NTHREADS = (BM / WM) * (BN / WN) * 32;
    using Tiles = StagedTiles<TRANS_A, TRANS_B, BM, BN, BK, 0, STAGES, NTHREADS>;
    static constexpr bool A_K_CONTIGUOUS = Tiles::A_K_CONTIGUOUS, B_K_CONTIGUOUS = Tiles::B_K_CONTIGUOUS;
    // A lane's rows come in runs of 4 where A is mn-contiguous, else 8 rows LANES_M apart; its
    // columns always in runs of 4 (rung 7's comment says why neither read has bank conflicts).
    static constexpr bool A_RUNS = !A_K_CONTIGUOUS, B_RUNS = true;

    const Tiles tiles;
    const int warp_m = (threadIdx.x / 32 / (BN / WN)) * WM, warp_n = (threadIdx.x / 32 % (BN / WN)) * WN;
    const int lane_row = threadIdx.x % 32 % LANES_M, lane_col = threadIdx.x % 32 / LANES_M;
    float acc[TM][TN] = {};

    __device__ explicit WarpTiledTile(float* smem) : tiles{smem} {}

    // The block tile's row of the lane's i-th rows, and column of its j-th column.
    __device__ __forceinline__ int row(int i) const { return warp_m + fragment_mn<A_RUNS, LANES_M>(lane_row, i); }
    __device__ __forceinline__ int col(int j) const { return warp_n + fragment_mn<B_RUNS, LANES_N>(lane_col, j); }

    __device__ __forceinline__ void accumulate(const float* __restrict__ a, const float* __restrict__ b,
                                               int m0, int n0, int M, int N, int K, int k_begin, int k_end)
    {
        const bool wide = float4_loads_fit<TRANS_A, TRANS_B>(a, b, M, N, K);
        const int first = k_begin / BK;
        auto load = [&](int stage, int t) { tiles.load(stage, first + t, a, b, m0, n0, M, N, K, threadIdx.x, wide); };
        auto compute = [&](int stage) {
            float a_frag[2][TM], b_frag[2][TN];
#pragma unroll
            for (int k = 0; k < BK; k += 2) {
                load_fragment<A_K_CONTIGUOUS, A_RUNS, Tiles::A_STRIDE, LANES_M>(a_frag, tiles.a_tile(stage), warp_m,
                                                                                 lane_row, k);
                load_fragment<B_K_CONTIGUOUS, B_RUNS, Tiles::B_STRIDE, LANES_N>(b_frag, tiles.b_tile(stage), warp_n,
                                                                                 lane_col, k);
#pragma unroll
                for (int q = 0; q < 2; ++q)
#pragma unroll
                    for (int i = 0; i < TM; ++i)
#pragma unroll
                        for (int j = 0; j < TN; ++j) acc[i][j] += a_frag[q][i] * b_frag[q][j];
            }
        };
        pipelined_mainloop<STAGES>((k_end - k_begin + BK - 1) / BK, load, compute);
    }

    // The tile through the epilogue into C (M x N), at block offset (m0, n0). A lane's columns come
    // in runs of 4 adjacent ones: each run goes out as one 16-byte store where C allows
    // (output_quads_fit), and the 4 lanes sharing a row write 64 contiguous bytes.
    __device__ __forceinline__ void store(float* __restrict__ c, const float* __restrict__ bias, int m0, int n0,
                                          int M, int N, float alpha, float beta, int flags) const
    {
        const bool quads = output_quads_fit(c, N);
        // At 64 x 64 warp tiles (128 accumulators a lane) the extra copies spill (sm_80): general only.
        with_epilogue<TM * TN <= 64>(beta, flags, quads && m0 + BM <= M && n0 + BN <= N, [&](EpilogueKind kind) {
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; j += 4)
                    store_output_quad(c, bias, m0 + row(i), n0 + col(j), M, N, acc[i] + j, alpha, beta, flags, quads,
                                      kind);
        });
    }

    // The raw sums into one slice of split-K's workspace (rows of N4 floats, N rounded up to 4):
    // a run of 4 whose first column is inside C goes out whole (its columns past N hold the zeros
    // the zero-filled B tile left there, which the reduce never stores).
    __device__ __forceinline__ void store_partials(float* __restrict__ slice, int m0, int n0, int M, int N,
                                                   int N4) const
    {
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + row(i);
#pragma unroll
            for (int j = 0; j < TN; j += 4) {
                const int n = n0 + col(j);
                if (m < M && n < N)
                    *reinterpret_cast<float4*>(slice + (long long)m * N4 + n) =
                        make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
            }
        }
    }
};

// ---- the tensor-core block tile of gemm_tf32_mma (rung 8, gemm_tensorcore.cu, whose comment says
// how the mma fragments are laid out and why the strides are what they are), which split-K's 3xTF32
// slices run too (rung 10e, gemm_small.cu).

// Where fragment row g + 8h of m-tile mi (lane g's A values, and its C results) lies in the warp
// tile. The mma does not care which rows of A it is given, so long as C's rows are stored to match.
// Plain: mi * 16 + g + 8h, the PTX layout. Paired: each pair of m-tiles (mi, mi + 1) shares 32 rows,
// lane g taking rows 4g .. 4g + 3 for (mi, h = 0), (mi, 1), (mi + 1, 0), (mi + 1, 1).
template <bool PAIRED>
__device__ __forceinline__ int fragment_row(int mi, int g, int h)
{
    return PAIRED ? (mi / 2) * 32 + 4 * g + 2 * (mi % 2) + h : mi * 16 + g + 8 * h;
}

// A block of (BM / WM) x (BN / WN) warps owns a BM x BN tile of C; each warp a WM x WN warp tile of
// (WM / 16) x (WN / 8) mma tiles, TF32 or, with SPLIT, 3xTF32. accumulate() walks the K-tiles from
// k_begin to k_end through STAGES cp.async buffers (pipelined_mainloop) in the launch's dynamic
// shared memory, `smem`; like WarpTiledTile's, a range must end at K or span whole K-tiles.
template <bool TRANS_A, bool TRANS_B, bool SPLIT, int BM, int BN, int BK, int WM, int WN, int STAGES>
struct MmaTile {
    static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 8 == 0 && BK % 8 == 0,
                  "whole warp tiles of whole 16 x 8 x 8 mma tiles");
    static_assert(BM % 32 == 0 && BN % 32 == 0, "an mn-contiguous row stride of 8 mod 32 (rung 8's comment)");
    static constexpr int BLOCK_M = BM, BLOCK_N = BN, NTHREADS = (BM / WM) * (BN / WN) * 32, MI = WM / 16, NI = WN / 8;
    // 3xTF32's warp tiles of 64 x 32 and more take every register a thread may have (255), and each
    // of these spilled one instance or another there: copy_tile_async's state kept across K-tiles
    // (rung 8's "Copies"), a rolled prologue (pipelined_mainloop), stores in pairs and the epilogue's
    // extra copies (store below). So those tiles recompute the copies' addresses every K-tile, unroll
    // the prologue and store floats through the general epilogue; smaller warp tiles, with registers
    // to spare, do as TF32 does.
    static constexpr bool REGISTER_BOUND = SPLIT && WM * WN >= 64 * 32;
    using Tiles = StagedTiles<TRANS_A, TRANS_B, BM, BN, BK, 8, STAGES, NTHREADS, REGISTER_BOUND>;
    // 3xTF32 with an mn-contiguous A (A^T.B) pairs its rows (fragment_row): a lane's four words at
    // one k are then adjacent and 16-byte aligned, one LDS.128 (the compiler merges the four loads;
    // checked in the SASS), so a k8-step reads a pair of m-tiles with 2 LDS.128 in place of 8
    // LDS.32. Conflict-free: a quarter-warp's 8 lanes (g = 2q, 2q + 1; t = 0..3) read banks
    // 8t + 4g .. 8t + 4g + 3 mod 32 under the row stride BM + 8. The split writes big and small to
    // fresh registers, which the mma operands are built from anyway; plain TF32 rounds in place and
    // would have to move the words into the mma's operand registers (ptxas added 300-500 moves per
    // K-tile), so it keeps the plain rows, as does a k-contiguous A, whose rows are a stride apart.
    static constexpr bool PAIRED = SPLIT && !Tiles::A_K_CONTIGUOUS;
    static_assert(!PAIRED || MI % 2 == 0, "paired rows need whole pairs of m-tiles");

    const Tiles tiles;
    // In int, as rung 8's kernel had them before it ran this tile: a first form of the tile computed
    // them in threadIdx's unsigned, and 3xTF32's A^T.B spilled there (sm_80 and sm_90, nvcc 13.0).
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int warp_m = (warp / (BN / WN)) * WM, warp_n = (warp % (BN / WN)) * WN;
    // acc[mi][ni][r] is C(warp_m + fragment_row(mi, g, r / 2), warp_n + ni * 8 + 2t + r % 2) of the
    // block tile: r = 2h and 2h + 1 are neighbours in a row.
    float acc[MI][NI][4] = {};

    __device__ explicit MmaTile(float* smem) : tiles{smem} {}

    __device__ __forceinline__ void accumulate(const float* __restrict__ a, const float* __restrict__ b,
                                               int m0, int n0, int M, int N, int K, int k_begin, int k_end)
    {
        const bool wide = float4_loads_fit<TRANS_A, TRANS_B>(a, b, M, N, K);
        const int first = k_begin / BK;
        auto load = [&](int stage, int k_tile) {
            tiles.load(stage, first + k_tile, a, b, m0, n0, M, N, K, tid, wide);
        };
        auto compute = [&](int stage) {
            const float* as = tiles.a_tile(stage);
            const float* bs = tiles.b_tile(stage);
#pragma unroll
            for (int k = 0; k < BK; k += 8)
                warp_mma_k8<SPLIT, REGISTER_BOUND>(
                    acc,
                    [&](int mi, int h, int kk) {
                        return tile_at<Tiles::A_K_CONTIGUOUS, Tiles::A_STRIDE>(as, warp_m + fragment_row<PAIRED>(mi, g, h), kk);
                    },
                    [&](int ni, int kk) {
                        return tile_at<Tiles::B_K_CONTIGUOUS, Tiles::B_STRIDE>(bs, warp_n + ni * 8 + g, kk);
                    },
                    k, t);
        };
        pipelined_mainloop<STAGES, (!REGISTER_BOUND && STAGES > 3)>((k_end - k_begin + BK - 1) / BK, load, compute);
    }

    // The tile through the epilogue into C (M x N), at block offset (m0, n0), a lane's neighbouring
    // pair of outputs as one 8-byte store where C allows (store_output_pair). Not where REGISTER_BOUND:
    // at 255 registers, 3xTF32's A.B^T instance spilled with the pairs (nvcc 13.0, sm_90), and with
    // the epilogue's extra copies (with_epilogue), so it stores floats, generally.
    __device__ __forceinline__ void store(float* __restrict__ c, const float* __restrict__ bias, int m0, int n0,
                                          int M, int N, float alpha, float beta, int flags) const
    {
        const bool pairs = !REGISTER_BOUND && output_pairs_fit(c, N);
        with_epilogue<!REGISTER_BOUND>(beta, flags, pairs && m0 + BM <= M && n0 + BN <= N, [&](EpilogueKind kind) {
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < NI; ++ni)
#pragma unroll
                    for (int h = 0; h < 2; ++h)
                        store_output_pair(c, bias, m0 + warp_m + fragment_row<PAIRED>(mi, g, h),
                                          n0 + warp_n + ni * 8 + 2 * t, M, N, acc[mi][ni][2 * h],
                                          acc[mi][ni][2 * h + 1], alpha, beta, flags, pairs, kind);
        });
    }

    // The raw sums into one slice of split-K's workspace (rows of N4 floats, N rounded up to 4): a
    // pair whose first column is inside C goes out whole (its second, where past N, holds the zero
    // that the zero-filled B tile left there, inside the row's N4, which the sum never stores).
    __device__ __forceinline__ void store_partials(float* __restrict__ slice, int m0, int n0, int M, int N,
                                                   int N4) const
    {
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
            for (int ni = 0; ni < NI; ++ni)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int m = m0 + warp_m + fragment_row<PAIRED>(mi, g, h), n = n0 + warp_n + ni * 8 + 2 * t;
                    if (m < M && n < N)
                        *reinterpret_cast<float2*>(slice + (long long)m * N4 + n) =
                            make_float2(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
                }
    }
};
