// The losses with their gradients. First the softmax cross-entropy, fused: each row's loss and the
// gradient with respect to the logits in one kernel, then the batch's mean loss in a second; then
// (rung 4) the losses whose terms take each element alone: binary cross-entropy (on probabilities or
// on logits), mean squared and mean absolute error, Huber's, the hinge and squared hinge, log-cosh,
// Poisson's, the Kullback-Leibler divergence, the mean absolute percentage and squared logarithmic
// errors, the binary focal cross-entropy; and (rung 5) the cross-entropy on probabilities.
//
// For a row-major rows x classes matrix of logits x and labels t (one-hot, or a class id per row),
//   log_softmax[r, c]  = x[r, c] - max_r - log(sum over c of e^(x[r, c] - max_r))
//   row_loss[r]        = -sum over c of t[r, c] * log_softmax[r, c]
//   grad[r, c]         = (softmax[r, c] - t[r, c]) / rows
//   loss               = sum over r of row_loss[r] / rows
// as the NumPy reference softmax_cross_entropy of cnn_gpu/ops/loss.py computes them. Subtracting
// the row's maximum first keeps every exponent <= 0: no e^x overflows, however large the logits.
//
// A lesson in giving a row to a thread or to a warp. The op is memory-bound: the floor is one read
// of the logits and labels and one write of the gradient at copy bandwidth (row_loss is one value
// per row). The ladder:
//   1. softmax_xent_row_per_thread  one thread per row, three loops along it: a warp reads 32 rows
//                                   `classes` elements apart: uncoalesced
//   2. softmax_xent_warp_per_row    one warp per row, lanes striding along it (coalesced), the
//                                   maximum and the sums shared by shuffle butterflies
//   3. loss_mean                    the batch loss: the terms (row losses, or rung 4's block sums)
//                                   summed in a fixed order by one block and divided, so it is
//                                   deterministic (no atomics)
//   4. elementwise_loss             the losses that take each element alone (binary cross-entropy on
//                                   probabilities or logits, mean squared and absolute error,
//                                   Huber's, the hinges, log-cosh, Poisson's, the KL divergence,
//                                   the percentage and logarithmic errors, the focal one):
//                                   each element's gradient, and each block's sum of its loss
//                                   terms, which loss_mean then averages
//   5. probs_xent_warp_per_row      cross-entropy on probabilities (a model not ending in a fusable
//                                   softmax), rung 2's layout, then loss_mean
//   6. softmax_xent_warp_per_row_registers  rung 2 with the row held in registers: the logits read
//                                   once
// Rungs 1 and 2 run the same body (softmax_xent_row), with 1 or 32 threads per row; rung 6 its
// element terms (xent_element). Every kernel is a template over the element type T (float, double);
// rungs 1, 2, 5 and 6 also over the labels' type L:
// L = T for one-hot labels (a rows x classes matrix), L = int for sparse ones (a class id per row,
// which the wrapper has checked lies in [0, classes)).
// Wrappers: cnn_gpu/ops/loss.py. Tests: tests/ops/test_loss_kernels.py. Benchmark: benchmarks/loss.py.

#include "block_sum.cuh"    // block_sum, one_block_sum: sums over a block in a fixed order
#include "row_lanes.cuh"    // WARP, lanes_sum, row_max_and_exp_sum: a row's max and sums across its lanes
#include "typed_math.cuh"  // exp_of, log_of, log1p_of, tanh_of, pow_of: one name for float and double

// Threads per block of every kernel; cnn_gpu/ops/loss.py launches with the same number.
constexpr int XENT_BLOCK = 256;

// One row's labels, read as the reference reads them once one_hot has expanded sparse ids: a row of
// the one-hot matrix, or 1 at the row's class id and 0 elsewhere (the id read once per row).
template <typename T>
struct OneHotRow {
    const T* row;
    __device__ __forceinline__ T operator()(int c) const { return row[c]; }
};

template <typename T>
struct ClassIdRow {
    int id;
    __device__ __forceinline__ T operator()(int c) const { return c == id ? T(1) : T(0); }
};

// Row r's labels from the labels argument: the overload is picked by its type (const T* or const int*).
template <typename T>
__device__ __forceinline__ OneHotRow<T> labels_of_row(const T* __restrict__ labels, int r, int classes) {
    return {labels + (long long)r * classes};
}

template <typename T>
__device__ __forceinline__ ClassIdRow<T> labels_of_row(const int* __restrict__ labels, int r, int) {
    return {labels[r]};
}

// The body of rungs 1 and 2: row x (classes logits) with its labels into its gradient row g and its
// *row_loss, by the LANES threads that share the row, this one being `lane` (0 .. LANES - 1); each
// takes elements lane, lane + LANES, ... Three loops over the row: its max and the sum of
// e^(x - max) (row_max_and_exp_sum, row_lanes.cuh), then the gradient and the loss terms. The second
// and third read the row again: from L1 or L2 when the row is short enough to stay there, which is
// the case these kernels are for.
// Every element's loss term is t * log_softmax, even where t = 0, as the reference forms it: the
// loss is then the reference's for any logits (a -inf logit gives 0 * -inf = NaN in both). A NaN
// logit becomes its row's maximum (nan_max propagates it), and every x - max of the row, the sum and
// the loss turn NaN with it.
// One element's gradient into *g and its loss term, returned, from its logit less the row's maximum
// (`shifted`), its label t and the row's sum of e^(x - max) and that sum's log: (softmax - t) / rows
// and t * log_softmax.
template <typename T>
__device__ __forceinline__ T xent_element(T shifted, T t, T sum, T log_sum, T rows, T* __restrict__ g) {
    *g = (exp_of(shifted) / sum - t) / rows;
    return t * (shifted - log_sum);
}

template <int LANES, typename T, typename Labels>
__device__ __forceinline__ void softmax_xent_row(const T* __restrict__ x, Labels labels, T* __restrict__ g,
                                                 T* __restrict__ row_loss, int classes, int lane, T rows) {
    const MaxAndExpSum<T> row = row_max_and_exp_sum<LANES>(x, classes, lane);
    // sum >= 1 (the maximum's own term is e^0), so the log is finite unless the row holds a NaN
    // (or an infinity: inf - inf = NaN, as in the reference).
    const T log_sum = log_of(row.sum);

    T loss = T(0);
    for (int c = lane; c < classes; c += LANES)
        loss += xent_element(x[c] - row.top, labels(c), row.sum, log_sum, rows, &g[c]);
    loss = lanes_sum<LANES>(loss);
    if (lane == 0) *row_loss = -loss;
}

// ---------------------------------------------------------------------------------------------
// 1. One thread per row.
// Idea: the serial loops, one row per thread.
// Expected bottleneck: uncoalesced accesses. At each step a warp touches one element of 32 rows
// `classes` elements apart. With 10 classes the 32 rows span 1280 bytes (float32) that stay in L1
// across the steps: device memory reads each byte about once, but each load and store costs up to
// 32 L1 transactions instead of 1 or 2, so L1 throughput binds. With 1000 classes a block's rows
// span 1 MB, more than L1 holds: a 32-byte sector is gone before the thread's next 4 bytes in it
// are wanted, so device memory moves up to 8x the bytes used, in each of the three loops. And few
// rows starve the chip: 4096 rows are 16 blocks for the 132 SMs of an H100.
// Measured (NVIDIA H200, benchmarks/results/loss.json, commit 27bd7f2; one-hot labels, by CUDA graph,
// loss_mean's launch included): (4096, 1000) 633.2 us, 78 GB/s, 1.9% of copy bandwidth (4180 GB/s), 16x
// rung 2's time, 12x PyTorch's cross_entropy's (51.4 us), 3.6x the reference's on CuPy (177.3). (65536, 10)
// 15.5 us, 507 GB/s, 12%: 1.7x faster than rung 2 (26.7 us), 6.6x faster than PyTorch (102.4), 2.9x
// faster than CuPy (45.8): the short rows stay in L1, and a thread's serial loops beat a mostly idle
// warp's butterflies. (4096, 10) 5.5 us, 1.3x rung 2's 4.1. As expected at both widths.
template <typename T, typename L>
__global__ void __launch_bounds__(XENT_BLOCK)
    softmax_xent_row_per_thread(const T* __restrict__ logits, const L* __restrict__ labels, T* __restrict__ grad,
                                T* __restrict__ row_loss, int rows, int classes) {
    const int r = blockIdx.x * XENT_BLOCK + threadIdx.x;
    if (r >= rows) return;
    const long long start = (long long)r * classes;
    softmax_xent_row<1>(logits + start, labels_of_row<T>(labels, r, classes), grad + start, row_loss + r, classes, 0,
                        T(rows));
}

// ---------------------------------------------------------------------------------------------
// 2. One warp per row, shuffles only.
// Idea: XENT_BLOCK / 32 rows per block, each warp on its own row: consecutive lanes read consecutive
// elements (each load a contiguous run), the row's max and sums combined by butterflies in registers,
// no shared memory, no barrier. Lane 0 writes the row's loss.
// Expected bottleneck: device memory bandwidth for rows of hundreds of classes and more (1000
// classes: 32 loads per lane per loop, the second and third loops' from L1 or L2). For the 10
// classes of a classifier, 22 of the 32 lanes idle and each warp moves only 40 bytes (float32) per
// loop between three 5-step butterflies: latency, the loads in flight per SM too few to reach copy
// bandwidth.
// Edges: classes < 32 leaves lanes without elements; they start the max from x[0] and the sums
// from 0, and take part in the butterflies, which need all 32 lanes.
// Measured (NVIDIA H200, benchmarks/results/loss.json, commit 27bd7f2; one-hot labels, by CUDA graph,
// loss_mean's launch included): (4096, 1000) 38.7 us, 1269 GB/s, 30% of copy bandwidth (4180 GB/s);
// PyTorch's cross_entropy on int64 ids 51.4 us (ours 1.33x faster, reading 1.5x its bytes), the reference
// on CuPy 177.3 (4.6x). (65536, 10) 26.7 us, 295 GB/s, 7%: PyTorch 102.4 (3.8x), CuPy 45.8 (1.7x), and
// rung 1 faster (15.5 us), as the latency above says. (4096, 10) 4.1 us: PyTorch 20.7 (5.0x), CuPy 21.3
// (5.2x).
// Not as expected at 1000 classes: the comment expected device memory bandwidth, and the rung reaches 30%
// of copy where rung 4 moves the same 49 MB at 79%, so the bytes alone do not set its time (which of the
// three loops and their butterflies does, these figures cannot tell; rung 6, the logits read once, is
// slower still).
// With class ids both rungs are timed launch by launch (the wrapper checks the ids on the device and reads
// the answer back, a sync no graph captures): 104-189 us at every shape (rung 1 at 1000 classes 568 us),
// the host side and the sync, not the kernel.
template <typename T, typename L>
__global__ void __launch_bounds__(XENT_BLOCK)
    softmax_xent_warp_per_row(const T* __restrict__ logits, const L* __restrict__ labels, T* __restrict__ grad,
                              T* __restrict__ row_loss, int rows, int classes) {
    const int r = blockIdx.x * (XENT_BLOCK / WARP) + threadIdx.x / WARP;
    // Whole warps leave together, so the full-mask shuffles never miss a lane.
    if (r >= rows) return;
    const long long start = (long long)r * classes;
    softmax_xent_row<WARP>(logits + start, labels_of_row<T>(labels, r, classes), grad + start, row_loss + r, classes,
                           threadIdx.x % WARP, T(rows));
}

// ---------------------------------------------------------------------------------------------
// 3. The batch loss: *loss = sum of terms[0 .. count - 1] / divisor, by one block.
// Idea: each thread sums terms threadIdx.x, + XENT_BLOCK, ... in order, each warp combines its 32
// sums by butterfly, and thread 0 adds the 8 warp totals and divides. The order of every addition
// is fixed, so the loss is the same bits on every run. Its own kernel rather than row_reduce of
// reduce.cu on a 1 x count view: that and the division after it would be two launches; this is one,
// and writes the 0-d loss directly. The softmax cross-entropy's terms are its row losses (divisor:
// the rows); rung 4's are its blocks' sums (divisor: the elements).
// Expected bottleneck: launch overhead; it reads count values (256 KiB for 65536 float32 rows).
// Measured: not on its own; the cases of benchmarks/loss.py include it.
template <typename T>
__global__ void __launch_bounds__(XENT_BLOCK)
    loss_mean(const T* __restrict__ terms, T* __restrict__ loss, int count, T divisor) {
    const T total = one_block_sum<XENT_BLOCK>(terms, count);
    if (threadIdx.x == 0) *loss = total / divisor;
}

// ---------------------------------------------------------------------------------------------
// 4. Element-wise losses: binary cross-entropy, mean squared and mean absolute error, Huber's; the
// hinge and squared hinge, log-cosh, Poisson and the Kullback-Leibler divergence; the mean absolute
// percentage and mean squared logarithmic errors; the binary focal cross-entropy.
// Each element's loss term and gradient depend on that element alone (Keras's means over the last
// axis, then over the batch, are one mean over every element; the divergence's sum over the last
// axis, then the mean over rows, is the sum over every element over the rows). LossTerm<KIND>
// computes both as the reference does (cnn_gpu/ops/loss.py: binary_cross_entropy on probabilities
// clipped to [lo, hi], its gradient zero where the clip clamps, or on logits; mean_squared_error;
// mean_absolute_error; huber; elementwise_terms for the rest), in the same order of operations, so
// the gradient matches the reference's bit for bit (where it takes exp, log or tanh, to their
// rounding, which differs between libraries) and a NaN travels as there.
enum class Loss {
    binary_xent, binary_xent_logits, squared_error, absolute_error, huber,
    hinge, squared_hinge, log_cosh, poisson, kl_divergence, absolute_percentage_error, squared_log_error,
    focal_xent, focal_xent_logits
};

// sign(d) as NumPy's: -1, 0 or 1, and NaN for NaN.
template <typename T>
__device__ __forceinline__ T sign_of(T d) {
    return d > T(0) ? T(1) : (d < T(0) ? T(-1) : d * T(0));
}

template <Loss KIND, typename T>
struct LossTerm {
    T lo, hi, elements;  // binary_xent: the clip's bounds, and (on logits too) the element count the gradient
                         // is divided by; poisson: lo, the epsilon added to p; kl_divergence: the clip's bounds;
                         // the percentage and logarithmic errors: lo, the floor of |t| and of p and t
    T scale;             // the others: the gradient's factor (2 / n, 1 / n, or 1 / rows), as the reference
                         // rounds it to T
    T delta;             // huber: where the square turns into a straight line; focal: gamma, its exponent
    T weight_positive, weight_negative;  // focal: each term's weight where t = 1 and where t = 0 (Keras's
                                         // class balancing alpha and 1 - alpha; without it, both 1)

    // Element (p, t)'s gradient, into *grad, and its loss term, returned.
    __device__ __forceinline__ T operator()(T p, T t, T* grad) const {
        const T diff = p - t;
        if (KIND == Loss::squared_error) {
            *grad = diff * scale;
            return diff * diff;
        }
        if (KIND == Loss::absolute_error) {
            *grad = sign_of(diff) * scale;
            return diff < T(0) ? -diff : diff;
        }
        if (KIND == Loss::huber) {
            const T size = diff < T(0) ? -diff : diff;
            const bool inside = size <= delta;  // a NaN is outside, and its line's term is NaN
            *grad = (inside ? diff : delta * sign_of(diff)) * scale;
            return inside ? T(0.5) * diff * diff : delta * size - T(0.5) * delta * delta;
        }
        if (KIND == Loss::hinge || KIND == Loss::squared_hinge) {
            // Labels of -1 or 1 (the wrapper has turned 0/1 labels into them, as Keras does).
            const T margin = T(1) - t * p;
            const T positive = margin < T(0) ? T(0) : margin;  // a NaN margin stays NaN, as np.maximum's
            if (KIND == Loss::hinge) {
                *grad = (margin > T(0) ? -t : T(0)) * scale;
                return positive;
            }
            *grad = T(-2) * t * positive * scale;
            return positive * positive;
        }
        if (KIND == Loss::log_cosh) {
            // log cosh(d) = d + softplus(-2d) - log 2, Keras's form, with softplus as in
            // binary_xent_logits (no exponent positive); its derivative is tanh(d).
            const T z = T(-2) * diff;
            const T softplus = (z < T(0) ? T(0) : z) + log1p_of(exp_of(z < T(0) ? z : -z));
            *grad = tanh_of(diff) * scale;
            return diff + softplus - T(0.6931471805599453);
        }
        if (KIND == Loss::poisson) {
            const T shifted = p + lo;
            *grad = (T(1) - t / shifted) * scale;
            return p - t * log_of(shifted);
        }
        if (KIND == Loss::kl_divergence) {
            // Both clipped to [lo, hi] = [epsilon, 1]; the gradient zero where p's clip clamps.
            const T tc = t < lo ? lo : (t > hi ? hi : t), pc = p < lo ? lo : (p > hi ? hi : p);
            const T inside = p >= lo && p <= hi ? T(1) : T(0);
            *grad = -tc / pc * inside * scale;
            return tc * log_of(tc / pc);
        }
        if (KIND == Loss::absolute_percentage_error) {
            // 100 |t - p| / max(|t|, epsilon): the error as a percentage of the label.
            const T size = t < T(0) ? -t : t;
            const T denominator = size < lo ? lo : size;  // a NaN label stays NaN, as np.maximum's
            const T d = (t - p) / denominator;
            *grad = T(-100) * sign_of(d) / denominator * scale;
            return T(100) * (d < T(0) ? -d : d);
        }
        if (KIND == Loss::squared_log_error) {
            // (log(max(p, epsilon) + 1) - log(max(t, epsilon) + 1))^2, its gradient zero where p's floor holds.
            const T shifted = (p < lo ? lo : p) + T(1);
            const T d = log_of(shifted) - log_of((t < lo ? lo : t) + T(1));
            const T inside = p >= lo ? T(1) : T(0);  // NaN: 0, and the NaN d times 0 stays NaN
            *grad = T(2) * d / shifted * inside * scale;
            return d * d;
        }
        if (KIND == Loss::focal_xent || KIND == Loss::focal_xent_logits) {
            // Keras's binary focal cross-entropy: the binary cross-entropy of the clipped probability,
            // times (1 - p_t)^gamma, p_t = t p + (1 - t)(1 - p) the probability given to the label, so
            // that confident right answers count little; times the label's weight. On logits, p is
            // sigmoid(x), and the gradient goes on through p (1 - p).
            const T prob = KIND == Loss::focal_xent ? p : T(1) / (T(1) + exp_of(-p));
            const T c = prob < lo ? lo : (prob > hi ? hi : prob);
            const T inside = prob >= lo && prob <= hi ? T(1) : T(0);
            const T bce = -(t * log_of(c) + (T(1) - t) * log_of(T(1) - c));
            const T miss = T(1) - (t * prob + (T(1) - t) * (T(1) - prob));
            const T focus = pow_of(miss, delta);
            // d focus / d p = gamma miss^(gamma - 1) (1 - 2t): 0 at gamma 0, even where miss is 0.
            const T d_focus = delta == T(0) ? T(0) : delta * pow_of(miss, delta - T(1)) * (T(1) - T(2) * t);
            const T weight = weight_negative + t * (weight_positive - weight_negative);
            const T d_prob = weight * (d_focus * bce + focus * ((c - t) / (c * (T(1) - c)) * inside));
            *grad = (KIND == Loss::focal_xent ? d_prob : d_prob * (prob * (T(1) - prob))) * scale;
            return weight * (focus * bce);
        }
        if (KIND == Loss::binary_xent_logits) {
            // p is a logit x. Keras's -t log sigmoid(x) - (1 - t) log sigmoid(-x) is softplus(x) - t x,
            // and softplus(x) = max(x, 0) + log1p(e^-|x|): the one exponent is never positive, so no
            // logit overflows it, and sigmoid(x) is 1 / (1 + e) or e / (1 + e) with the same e.
            const T e = exp_of(p < T(0) ? p : -p);
            *grad = ((p >= T(0) ? T(1) : e) / (T(1) + e) - t) / elements;  // a NaN x: e and the gradient NaN
            return (p < T(0) ? T(0) : p) - p * t + log1p_of(e);  // max(NaN, 0) stays NaN, as np.maximum's
        }
        const T c = p < lo ? lo : (p > hi ? hi : p);  // a NaN stays NaN, as np.clip keeps it
        const T inside = p >= lo && p <= hi ? T(1) : T(0);  // NaN: 0, and NaN * 0 is NaN, as in NumPy
        *grad = (c - t) / (c * (T(1) - c)) * inside / elements;
        return -(t * log_of(c) + (T(1) - t) * log_of(T(1) - c));
    }
};

// Idea: a grid-stride loop over the n elements: each thread writes the gradients of its elements
// and sums their loss terms; the block adds its threads' sums (block_sum) into partial[blockIdx.x],
// and loss_mean adds the blocks' sums in a fixed order and divides by n (by the rows, for the KL
// divergence): deterministic, no atomics.
// Expected bottleneck: device memory bandwidth: pred and target read, grad written, 12 bytes an
// element (float32); two logarithms an element for binary cross-entropy (an exponential, a log1p
// and a division on logits), under it.
// Measured (NVIDIA H200, benchmarks/results/loss.json, commit 27bd7f2; by CUDA graph, loss_mean included),
// at (4096, 1000), 49 MB: squared_error 14.9 us, 3289 GB/s, 79% of copy bandwidth (4180 GB/s);
// absolute_error and hinge the same (14.9 us, 79%), squared_hinge 15.2 (78%); huber 16.6 (71%); log_cosh
// 17.4 (68%); poisson 17.9 (66%); kl_divergence 20.0 (59%); squared_log_error 21.0 (56%); binary_xent 23.1
// (51%), on logits 23.3 (51%); absolute_percentage_error 24.1 (49%); focal 42.4 (28%). PyTorch's loss with
// its autograd gradient: binary_xent 51.4 us (ours 2.2x faster), on logits 93.9 (4.0x), squared_error 43.8
// (2.9x), absolute_error 61.8 (4.2x), huber 44.2 (2.7x); the reference on CuPy 4.7x (squared_error) to
// 18.8x (focal) slower than ours. (65536, 10): 5.7-6.9 us, 27-33% of copy, 3.0-4.6x faster than PyTorch and
// 3.1-12.7x than CuPy.
// Not as expected: the transcendentals do not stay under the memory time. The kinds without one (squared
// and absolute error, the hinges) run at 78-79%; binary cross-entropy's two logs take 1.5x squared error's
// time, the focal kind's two logs and two powers 2.8x.
template <Loss KIND, typename T>
__global__ void __launch_bounds__(XENT_BLOCK)
    elementwise_loss(const T* __restrict__ pred, const T* __restrict__ target, T* __restrict__ grad,
                     T* __restrict__ partial, long long n, T lo, T hi, T elements, T scale, T delta,
                     T weight_positive, T weight_negative) {
    const LossTerm<KIND, T> term{lo, hi, elements, scale, delta, weight_positive, weight_negative};
    __shared__ T warp_total[XENT_BLOCK / WARP];
    T sum = T(0);
    for (long long i = blockIdx.x * (long long)XENT_BLOCK + threadIdx.x; i < n; i += (long long)gridDim.x * XENT_BLOCK)
        sum += term(pred[i], target[i], grad + i);
    const T total = block_sum<XENT_BLOCK>(sum, warp_total);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// ---------------------------------------------------------------------------------------------
// 5. Cross-entropy on probabilities, one warp per row: Keras's categorical cross-entropy when the
// model's last layer is not a softmax the loss can fuse (it ends in probabilities already).
// As the reference (categorical_cross_entropy of cnn_gpu/ops/loss.py): each row is renormalised to
// sum 1 (q = p / total), clipped to [lo, hi] = [epsilon, 1 - epsilon] before the log, and the
// gradient goes back through the clip (zero where it clamps) and through p / total:
//   row_loss = -sum_c t log clip(q),   dq = -t / clip(q) * inside / rows,
//   grad     = (dq - sum_c dq q) / total
// Idea: rung 2's layout; four loops over the row (its total; the loss terms; the dot product
// sum_c dq q; the gradient), the sums by butterfly, each loop after the first reading the row again
// from L1 or L2. q and dq are made again in each loop rather than kept: a row's classes are not
// known when the kernel is compiled.
// Expected bottleneck: as rung 2 (for 10 classes, latency; for 1000, device memory bandwidth), with
// one butterfly more.
// Measured (NVIDIA H200, benchmarks/results/loss.json, commit 27bd7f2; one-hot labels, by CUDA graph,
// loss_mean included): (4096, 1000) 88.8 us, 553 GB/s, 13% of copy bandwidth (4180 GB/s), 3.6x faster than
// the reference on CuPy (319.2 us); (65536, 10) 46.0 us, 171 GB/s, 4%, 1.6x CuPy (74.2); (4096, 10) 5.5 us,
// 5.3x CuPy (28.7). No PyTorch baseline (it has no such loss).
// Not as expected: not "as rung 2" but 2.3x its time at (4096, 1000) (38.7 us) and 1.7x at (65536, 10)
// (26.7), on the same bytes. The difference is the work per element: four loops, three of them making q
// again with a division, one a log too; which of them costs most, these figures cannot tell.
template <typename T, typename L>
__global__ void __launch_bounds__(XENT_BLOCK)
    probs_xent_warp_per_row(const T* __restrict__ probs, const L* __restrict__ labels, T* __restrict__ grad,
                            T* __restrict__ row_loss, int rows, int classes, T lo, T hi) {
    const int r = blockIdx.x * (XENT_BLOCK / WARP) + threadIdx.x / WARP;
    // Whole warps leave together, so the full-mask shuffles never miss a lane.
    if (r >= rows) return;
    const int lane = threadIdx.x % WARP;
    const long long start = (long long)r * classes;
    const T* p = probs + start;
    const auto t = labels_of_row<T>(labels, r, classes);
    T total = T(0);
    for (int c = lane; c < classes; c += WARP) total += p[c];
    total = lanes_sum<WARP>(total);

    // Element c's terms, in the reference's order of operations: q, its clip, the inside mask (a NaN q
    // is outside, and NaN * 0 stays NaN), dq, and the loss term t log clip(q).
    struct Terms {
        T q, dq, loss;
    };
    const auto terms = [&](int c) {
        const T q = p[c] / total;
        const T clipped = q < lo ? lo : (q > hi ? hi : q);
        const T inside = q >= lo && q <= hi ? T(1) : T(0);
        return Terms{q, -t(c) / clipped * inside / T(rows), t(c) * log_of(clipped)};
    };
    // The loss terms and the dot product in loops of their own, the first not unrolled: otherwise the
    // double instances kept 8 bytes on the stack across log's call (ptxas 13.0, sm_80 and sm_90); so,
    // nothing (and each loop's unused terms are never computed).
    T loss = T(0), dot = T(0);
#pragma unroll 1
    for (int c = lane; c < classes; c += WARP) loss += terms(c).loss;
    for (int c = lane; c < classes; c += WARP) {
        const Terms e = terms(c);
        dot += e.dq * e.q;
    }
    loss = lanes_sum<WARP>(loss);
    dot = lanes_sum<WARP>(dot);
    for (int c = lane; c < classes; c += WARP) grad[start + c] = (terms(c).dq - dot) / total;
    if (lane == 0) row_loss[r] = -loss;
}

// ---------------------------------------------------------------------------------------------
// 6. One warp per row, the row in registers.
// Idea: rung 2 reads the logits three times (row_max_and_exp_sum's two loops, then the gradient's
// and loss terms' loop), the second and third from L1 or L2. Here each lane loads its logits once,
// into registers, all of its loads in flight together (load_held_row, row_lanes.cuh), and the
// gradient and the loss terms come from there: the logits and labels read once and the gradient
// written once, the floor. Up to HELD_ROW_COLS classes; a longer row runs rung 2's body. The same
// operations in the same order as rung 2: the same bits.
// Expected bottleneck: device memory bandwidth at 1000 classes (rung 2: 30% of copy, where rung 4
// moves the same bytes at 78%, H200, loss.json at ac366b0); at 10 classes rung 2's latency.
// Edges: logits past `classes` are neither loaded nor counted; a lane with none starts the max from
// the row's first logit, as rung 2's.
// Measured (NVIDIA H200, benchmarks/results/loss.json, commit 27bd7f2; one-hot labels, by CUDA graph,
// loss_mean included): (4096, 1000) 63.7 us, 771 GB/s, 18% of copy bandwidth (4180 GB/s): 1.65x rung 2's
// time (38.7 us, 30%) and slower than PyTorch's cross_entropy (51.4). (65536, 10) 98.4 us, 1.9% of copy,
// 3.7x rung 2's (26.7); (4096, 10) 10.0 us, 2.4x rung 2's (4.1). With class ids, launch by launch, 105-219
// us, at or above rung 2's. Not as expected: slower than rung 2 at every shape, where softmax.cu's rung 5,
// the same held row without labels, is 1.18x faster than its rung 2 at 1000 classes; not profiled.
template <typename T, typename L>
__global__ void __launch_bounds__(XENT_BLOCK)
    softmax_xent_warp_per_row_registers(const T* __restrict__ logits, const L* __restrict__ labels,
                                        T* __restrict__ grad, T* __restrict__ row_loss, int rows, int classes) {
    const int r = blockIdx.x * (XENT_BLOCK / WARP) + threadIdx.x / WARP;
    // Whole warps leave together, so the full-mask shuffles never miss a lane.
    if (r >= rows) return;
    const int lane = threadIdx.x % WARP;
    const long long start = (long long)r * classes;
    const auto t = labels_of_row<T>(labels, r, classes);
    if (classes > HELD_ROW_COLS) {
        softmax_xent_row<WARP>(logits + start, t, grad + start, row_loss + r, classes, lane, T(rows));
        return;
    }
    T held[HELD_PER_LANE];
    load_held_row(logits + start, classes, lane, held);
    const MaxAndExpSum<T> row = held_row_max_and_exp_sum(held, logits[start], classes, lane);
    const T log_sum = log_of(row.sum);
    T loss = T(0);
#pragma unroll
    for (int i = 0; i < HELD_PER_LANE; ++i) {
        const int c = lane + i * WARP;
        if (c < classes) loss += xent_element(held[i] - row.top, t(c), row.sum, log_sum, T(rows), &grad[start + c]);
    }
    loss = lanes_sum<WARP>(loss);
    if (lane == 0) row_loss[r] = -loss;
}
