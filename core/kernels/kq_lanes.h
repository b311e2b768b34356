/* core/kernels/kq_lanes.h — the searching quantizers (K-quants, IQ4_NL) run
 * lane-parallel: one independent sub-block (or IQ4_NL block) per SIMD lane.
 *
 * Why across lanes: every search of the reference sums floats sequentially
 * in element order, and any other order changes the chosen scale on some
 * blocks (FORMATS.md §3.9). Here lane l holds sub-block l and walks its
 * elements in the reference's order, so each lane performs exactly the
 * reference's float32 operations (no FMA: the including file is built with
 * -ffp-contract=off and the primitives below are plain IEEE operations).
 * Data-dependent branches of the reference become masks; what a lane would
 * have skipped is computed and thrown away. The scale quantization and the
 * packing of each type are the reference's own qref_scales_* / qref_pack_*
 * functions, except Q3_K's: its search is cheap enough in the reference
 * that those scalar steps dominated, so kq_scales_q3 runs step (b) with one
 * super-block per lane and kq_pack_q3 packs straight from the lane layout
 * (the same operations and bits; the tests compare every byte). The
 * re-quantization between them (one division per element) runs lane by
 * lane too, each lane a sub-block with its effective scale.
 *
 * Included by an ISA file after it defines:
 *   KQ_VW                      lanes per vector
 *   vf / vi / vm               float, int32 and mask vectors
 *   vf_set vf_ld vf_st vf_add vf_sub vf_mul vf_div vf_sqrt vf_abs vf_neg
 *   vm_lt vm_gt vm_le vm_ge vm_eq (ordered) vm_nlt (unordered: NaN true)
 *   vm_and vm_andnot(a, b) = a & ~b, vm_not, vm_any, vm_true
 *   vf_sel(m, a, b) vi_sel(m, a, b)   (a where m, else b)
 *   vf_rne (qref_nearest_int), vi_clamp, vi_tof, vi_eq, vi_ld, vi_st, vi_set
 * Everything is static: each ISA file gets its own copy built with its flags.
 */
#ifndef QCORE_KERNELS_KQ_LANES_H
#define QCORE_KERNELS_KQ_LANES_H

#include <stdbool.h>

#include "core/kernels/ref_internal.h"

struct kq_affine {
    int n, nmax;
    float rmin, rdelta;
    int nstep;
    bool mad;
};

/* Σ w·err(scale·L + min − x) per lane, in element order (LF: the codes as
 * floats). */
static inline vf kq_affine_error(const struct kq_affine *p, const float *restrict X,
                                 const float *restrict W, const float *restrict LF, vf scale,
                                 vf min)
{
    vf err = vf_set(0.0f);
    for (int i = 0; i < p->n; i++) {
        vf diff = vf_sub(vf_add(vf_mul(scale, vf_ld(LF + i * KQ_VW)), min), vf_ld(X + i * KQ_VW));
        diff = p->mad ? vf_abs(diff) : vf_mul(diff, diff);
        err = vf_add(err, vf_mul(vf_ld(W + i * KQ_VW), diff));
    }
    return err;
}

/* Codes clamp(rne(iscale·(x − min)), 0, nmax) of one candidate. */
static inline vi kq_affine_code(const struct kq_affine *p, vf x, vf iscale, vf min)
{
    return vi_clamp(vf_rne(vf_mul(iscale, vf_sub(x, min))), 0, p->nmax);
}

/* search_affine of ref_kquants.c, lane-parallel. X, W: [n][KQ_VW]. Only the
 * winning (inverse scale, min used) pair is kept per lane; its codes are
 * recomputed at the end, the same operations on the same values as when
 * the reference kept them. */
static void kq_search_affine(const struct kq_affine *p, const float *restrict X,
                             const float *restrict W, int32_t *restrict Lout, vf *scale_out,
                             vf *neg_min_out)
{
    const int n = p->n;
    float LF[32 * KQ_VW];
    const vf x0 = vf_ld(X);
    vf min = x0, max = x0, sum_w = vf_ld(W), sum_x = vf_mul(sum_w, x0);
    for (int i = 1; i < n; i++) {
        const vf x = vf_ld(X + i * KQ_VW), w = vf_ld(W + i * KQ_VW);
        min = vf_sel(vm_lt(x, min), x, min);
        max = vf_sel(vm_gt(x, max), x, max);
        sum_w = vf_add(sum_w, w);
        sum_x = vf_add(sum_x, vf_mul(w, x));
    }
    const vf zero = vf_set(0.0f);
    min = vf_sel(vm_gt(min, zero), zero, min);
    const vm flat = vm_eq(max, min);
    const vf min0 = min; /* what a flat lane returns */
    vf iscale = vf_div(vf_set((float)p->nmax), vf_sub(max, min));
    vf scale = vf_div(vf_set(1.0f), iscale);
    vf best_is = iscale, best_mu = min;
    for (int i = 0; i < n; i++)
        vf_st(LF + i * KQ_VW, vi_tof(kq_affine_code(p, vf_ld(X + i * KQ_VW), iscale, min)));
    vf best_err = kq_affine_error(p, X, W, LF, scale, min);

    for (int s = 0; s <= p->nstep; s++) {
        /* min moves with each accepted step, and the range with it, as in
         * the reference */
        iscale = vf_div(vf_set(p->rmin + p->rdelta * (float)s + (float)p->nmax), vf_sub(max, min));
        vf sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            const vf x = vf_ld(X + i * KQ_VW), w = vf_ld(W + i * KQ_VW);
            const vf l = vi_tof(kq_affine_code(p, x, iscale, min));
            vf_st(LF + i * KQ_VW, l);
            const vf wl = vf_mul(w, l);
            sum_l = vf_add(sum_l, wl);
            sum_l2 = vf_add(sum_l2, vf_mul(wl, l));
            sum_xl = vf_add(sum_xl, vf_mul(wl, x));
        }
        const vf D = vf_sub(vf_mul(sum_w, sum_l2), vf_mul(sum_l, sum_l));
        const vm ok = vm_gt(D, zero);
        if (!vm_any(ok))
            continue;
        vf this_scale = vf_div(vf_sub(vf_mul(sum_w, sum_xl), vf_mul(sum_x, sum_l)), D);
        vf this_min = vf_div(vf_sub(vf_mul(sum_l2, sum_x), vf_mul(sum_l, sum_xl)), D);
        const vm pos = vm_gt(this_min, zero);
        this_min = vf_sel(pos, zero, this_min);
        this_scale = vf_sel(pos, vf_div(sum_xl, sum_l2), this_scale);
        const vf err = kq_affine_error(p, X, W, LF, this_scale, this_min);
        const vm take = vm_and(ok, vm_lt(err, best_err));
        best_err = vf_sel(take, err, best_err);
        scale = vf_sel(take, this_scale, scale);
        best_is = vf_sel(take, iscale, best_is);
        best_mu = vf_sel(take, min, best_mu);
        min = vf_sel(take, this_min, min);
    }
    for (int i = 0; i < n; i++)
        vi_st(Lout + i * KQ_VW,
              vi_sel(flat, vi_set(0), kq_affine_code(p, vf_ld(X + i * KQ_VW), best_is, best_mu)));
    *scale_out = vf_sel(flat, zero, scale);
    *neg_min_out = vf_neg(vf_sel(flat, min0, min));
}

/* The signed extreme (first strictly largest |x|) and its magnitude. */
static inline vf kq_signed_extreme(const float *restrict X, int n, vf *amax_out)
{
    vf amax = vf_set(0.0f), mx = vf_set(0.0f);
    for (int i = 0; i < n; i++) {
        const vf x = vf_ld(X + i * KQ_VW), a = vf_abs(x);
        const vm g = vm_gt(a, amax);
        amax = vf_sel(g, a, amax);
        mx = vf_sel(g, x, mx);
    }
    *amax_out = amax;
    return mx;
}

/* symmetric_sums: codes l = clamp(rne(iscale·x), -nmax, nmax-1). */
static inline void kq_symmetric_sums(const float *restrict X, int n, int nmax, vf iscale, vi *L,
                                     vf *sumlx, vf *suml2)
{
    vf slx = vf_set(0.0f), sl2 = vf_set(0.0f);
    for (int i = 0; i < n; i++) {
        const vf x = vf_ld(X + i * KQ_VW);
        L[i] = vi_clamp(vf_rne(vf_mul(iscale, x)), -nmax, nmax - 1);
        const vf l = vi_tof(L[i]);
        const vf w = vf_mul(x, x);
        slx = vf_add(slx, vf_mul(vf_mul(w, x), l));
        sl2 = vf_add(sl2, vf_mul(vf_mul(w, l), l));
    }
    *sumlx = slx;
    *suml2 = sl2;
}

/* search_symmetric of ref_kquants.c (n <= 32); Lout gets l + nmax.
 * The candidates' sums are independent of each other: two are summed in one
 * pass (two independent chains, each in the reference's element order) and
 * then tried in the reference's order. Only the winning inverse scale is
 * kept; its codes are recomputed at the end, which gives the codes the
 * reference kept (the same operations on the same values). */
static vf kq_search_symmetric(const float *restrict X, int n, int nmax, int32_t *restrict Lout)
{
    static const int ks[18] = {-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    float W[32 * KQ_VW], WX[32 * KQ_VW]; /* x·x and x·x·x, as the reference forms them */
    vf amax;
    const vf mx = kq_signed_extreme(X, n, &amax);
    const vf zero = vf_set(0.0f);
    const vm is_zero = vm_lt(amax, vf_set(QREF_GROUP_MAX_EPS));
    for (int i = 0; i < n; i++) {
        const vf x = vf_ld(X + i * KQ_VW), w = vf_mul(x, x);
        vf_st(W + i * KQ_VW, w);
        vf_st(WX + i * KQ_VW, vf_mul(w, x));
    }
    vf best_is = vf_div(vf_set((float)-nmax), mx);
    vf sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; i++) {
        const vf l = vi_tof(vi_clamp(vf_rne(vf_mul(best_is, vf_ld(X + i * KQ_VW))), -nmax, nmax - 1));
        sumlx = vf_add(sumlx, vf_mul(vf_ld(WX + i * KQ_VW), l));
        suml2 = vf_add(suml2, vf_mul(vf_mul(vf_ld(W + i * KQ_VW), l), l));
    }
    vf scale = vf_sel(vm_not(vm_eq(suml2, zero)), vf_div(sumlx, suml2), zero);
    vf best = vf_mul(scale, sumlx);
    for (int c = 0; c < 18; c += 2) {
        const vf is_a = vf_div(vf_set(-((float)nmax + 0.1f * (float)ks[c])), mx);
        const vf is_b = vf_div(vf_set(-((float)nmax + 0.1f * (float)ks[c + 1])), mx);
        vf slx_a = zero, sl2_a = zero, slx_b = zero, sl2_b = zero;
        for (int i = 0; i < n; i++) {
            const vf x = vf_ld(X + i * KQ_VW), w = vf_ld(W + i * KQ_VW), wx = vf_ld(WX + i * KQ_VW);
            const vf la = vi_tof(vi_clamp(vf_rne(vf_mul(is_a, x)), -nmax, nmax - 1));
            const vf lb = vi_tof(vi_clamp(vf_rne(vf_mul(is_b, x)), -nmax, nmax - 1));
            slx_a = vf_add(slx_a, vf_mul(wx, la));
            sl2_a = vf_add(sl2_a, vf_mul(vf_mul(w, la), la));
            slx_b = vf_add(slx_b, vf_mul(wx, lb));
            sl2_b = vf_add(sl2_b, vf_mul(vf_mul(w, lb), lb));
        }
        vm take = vm_and(vm_gt(sl2_a, zero), vm_gt(vf_mul(slx_a, slx_a), vf_mul(best, sl2_a)));
        scale = vf_sel(take, vf_div(slx_a, sl2_a), scale);
        best = vf_sel(take, vf_mul(scale, slx_a), best);
        best_is = vf_sel(take, is_a, best_is);
        take = vm_and(vm_gt(sl2_b, zero), vm_gt(vf_mul(slx_b, slx_b), vf_mul(best, sl2_b)));
        scale = vf_sel(take, vf_div(slx_b, sl2_b), scale);
        best = vf_sel(take, vf_mul(scale, slx_b), best);
        best_is = vf_sel(take, is_b, best_is);
    }
    const vi off = vi_set(nmax);
    for (int i = 0; i < n; i++) {
        const vi l = vi_clamp(vf_rne(vf_mul(best_is, vf_ld(X + i * KQ_VW))), -nmax, nmax - 1);
        vi_st(Lout + i * KQ_VW, vi_sel(is_zero, vi_set(0), vi_add(l, off)));
    }
    return vf_sel(is_zero, zero, scale);
}

/* Super-blocks searched before they are finished, and the most batches of
 * KQ_VW sub-blocks that makes. Q3_K takes larger groups (KQ_CH3), so that
 * the lanes still moving after a pass fill several batches (below). */
#define KQ_CH (KQ_VW >= 32 ? 8 : 4)
#define KQ_CH3 (KQ_VW >= 32 ? 32 : KQ_VW >= 8 ? 16 : 8)
#define KQ_NB_MAX3 ((KQ_CH3 * 16 + KQ_VW - 1) / KQ_VW)
#define KQ_NB_MAX (KQ_NB_MAX3 > (KQ_CH * 16 + KQ_VW - 1) / KQ_VW ? KQ_NB_MAX3 : (KQ_CH * 16 + KQ_VW - 1) / KQ_VW)
#define KQ_STRIDE (32 * KQ_VW) /* floats (codes) per batch in X (C) */

/* The coordinate descent's state of a set of batches: elements and codes
 * [batch][16][KQ_VW], the two sums and the "still moving" flag per lane. */
struct kq_q3_set {
    const float *X;
    int32_t *L;
    float *s1, *s2;
    int32_t *act; /* -1 moving, 0 done */
    int nb;
};

/* One pass of search_q3's descent over every batch of the set with a
 * moving lane; a lane that changed nothing stops moving. Within a lane the
 * updates are sequential (each element's trial uses the sums left by the
 * previous one): one batch is a chain of dependent divisions, and stepping
 * the batches together keeps several chains in flight. */
static void kq_q3_pass(const struct kq_q3_set *st)
{
    enum { N = 16, NMAX = 4 };
    vf sumlx[KQ_NB_MAX3], suml2[KQ_NB_MAX3];
    vm active[KQ_NB_MAX3], changed[KQ_NB_MAX3];
    int live[KQ_NB_MAX3], nlive = 0;
    const vf zero = vf_set(0.0f);
    const vm none = vm_not(vm_true());
    for (int bt = 0; bt < st->nb; bt++) {
        active[bt] = vi_eq(vi_ld(st->act + bt * KQ_VW), vi_set(-1));
        if (!vm_any(active[bt]))
            continue;
        sumlx[bt] = vf_ld(st->s1 + bt * KQ_VW);
        suml2[bt] = vf_ld(st->s2 + bt * KQ_VW);
        changed[bt] = none;
        live[nlive++] = bt;
    }
    for (int i = 0; i < N; i++) {
        for (int li = 0; li < nlive; li++) {
            const int bt = live[li];
            int32_t *Lp = st->L + bt * KQ_STRIDE + i * KQ_VW;
            const vf x = vf_ld(st->X + bt * KQ_STRIDE + i * KQ_VW), w = vf_mul(x, x);
            const vi Li = vi_ld(Lp);
            const vf l = vi_tof(Li);
            const vf wx = vf_mul(w, x);
            vf slx = vf_sub(sumlx[bt], vf_mul(wx, l));
            const vm c1 = vm_gt(slx, zero);
            vf sl2 = vf_sub(suml2[bt], vf_mul(vf_mul(w, l), l));
            const vi nl = vi_clamp(vf_rne(vf_div(vf_mul(x, sl2), slx)), -NMAX, NMAX - 1);
            const vm c2 = vm_not(vi_eq(nl, Li));
            const vf nlf = vi_tof(nl);
            slx = vf_add(slx, vf_mul(wx, nlf));
            sl2 = vf_add(sl2, vf_mul(vf_mul(w, nlf), nlf));
            const vm c3 = vm_and(vm_gt(sl2, zero), vm_gt(vf_mul(vf_mul(slx, slx), suml2[bt]),
                                                         vf_mul(vf_mul(sumlx[bt], sumlx[bt]), sl2)));
            const vm take = vm_and(vm_and(active[bt], c1), vm_and(c2, c3));
            vi_st(Lp, vi_sel(take, nl, Li));
            sumlx[bt] = vf_sel(take, slx, sumlx[bt]);
            suml2[bt] = vf_sel(take, sl2, suml2[bt]);
            changed[bt] = vm_or(changed[bt], take);
        }
    }
    for (int li = 0; li < nlive; li++) {
        const int bt = live[li];
        vf_st(st->s1 + bt * KQ_VW, sumlx[bt]);
        vf_st(st->s2 + bt * KQ_VW, suml2[bt]);
        vi_st(st->act + bt * KQ_VW, vi_sel(vm_and(active[bt], changed[bt]), vi_set(-1), vi_set(0)));
    }
}

/* Copies lane `from` of set a (slot index bt·KQ_VW + l) to lane `to` of b. */
static inline void kq_q3_move(const struct kq_q3_set *a, int from, struct kq_q3_set *b, int to,
                              float *bX)
{
    const int fb = from / KQ_VW, fl = from % KQ_VW, tb = to / KQ_VW, tl = to % KQ_VW;
    for (int i = 0; i < 16; i++) {
        if (bX)
            bX[tb * KQ_STRIDE + i * KQ_VW + tl] = a->X[fb * KQ_STRIDE + i * KQ_VW + fl];
        b->L[tb * KQ_STRIDE + i * KQ_VW + tl] = a->L[fb * KQ_STRIDE + i * KQ_VW + fl];
    }
    b->s1[to] = a->s1[from];
    b->s2[to] = a->s2[from];
    b->act[to] = a->act[from];
}

/* search_q3 of ref_kquants.c: 16 elements, nmax 4, coordinate descent, on
 * nbt batches. Most sub-blocks stop after one pass (nothing changes), a few
 * run up to 5, and a batch runs until its slowest lane stops: so after
 * each pass the lanes still moving are packed into as few batches as they
 * fill (a copy of their elements, codes and sums; `orig` remembers where
 * each came from), and their state is copied back when they stop. Every
 * lane performs the reference's operations in the reference's order
 * whatever batch it sits in. sc gets the scales, Lout the codes + 4. */
static void kq_search_q3(const float *restrict X, int32_t *restrict Lout, int nbt,
                         float *restrict sc)
{
    enum { N = 16, NMAX = 4 };
    float S1[KQ_NB_MAX3 * KQ_VW], S2[KQ_NB_MAX3 * KQ_VW];
    int32_t ACT[KQ_NB_MAX3 * KQ_VW];
    vm is_zero[KQ_NB_MAX3];
    const vf zero = vf_set(0.0f);
    for (int bt = 0; bt < nbt; bt++) {
        const float *Xb = X + bt * KQ_STRIDE;
        vf amax;
        const vf mx = kq_signed_extreme(Xb, N, &amax);
        is_zero[bt] = vm_lt(amax, vf_set(QREF_GROUP_MAX_EPS));
        const vf iscale = vf_div(vf_set((float)-NMAX), mx);
        vf slx = zero, sl2 = zero;
        for (int i = 0; i < N; i++) {
            const vf x = vf_ld(Xb + i * KQ_VW);
            const vi L = vi_clamp(vf_rne(vf_mul(iscale, x)), -NMAX, NMAX - 1);
            vi_st(Lout + bt * KQ_STRIDE + i * KQ_VW, L);
            const vf l = vi_tof(L), w = vf_mul(x, x);
            slx = vf_add(slx, vf_mul(vf_mul(w, x), l));
            sl2 = vf_add(sl2, vf_mul(vf_mul(w, l), l));
        }
        vf_st(S1 + bt * KQ_VW, slx);
        vf_st(S2 + bt * KQ_VW, sl2);
        vi_st(ACT + bt * KQ_VW, vi_sel(is_zero[bt], vi_set(0), vi_set(-1)));
    }
    struct kq_q3_set all = {X, Lout, S1, S2, ACT, nbt};
    /* The packed set (at most nbt - 1 batches: packing happens only when it
     * saves one). */
    float PX[(KQ_NB_MAX3 - 1) * KQ_STRIDE > 0 ? (KQ_NB_MAX3 - 1) * KQ_STRIDE : 1];
    int32_t PL[(KQ_NB_MAX3 - 1) * KQ_STRIDE > 0 ? (KQ_NB_MAX3 - 1) * KQ_STRIDE : 1];
    float PS1[KQ_NB_MAX3 * KQ_VW], PS2[KQ_NB_MAX3 * KQ_VW];
    int32_t PACT[KQ_NB_MAX3 * KQ_VW], orig[KQ_NB_MAX3 * KQ_VW];
    struct kq_q3_set packed = {PX, PL, PS1, PS2, PACT, 0};
    const struct kq_q3_set *cur = &all;
    for (int pass = 0; pass < 5; pass++) {
        kq_q3_pass(cur);
        if (pass == 4)
            break;
        int moving = 0;
        for (int k = 0; k < cur->nb * KQ_VW; k++)
            moving += cur->act[k] != 0;
        if (moving == 0)
            break;
        const int nb = (moving + KQ_VW - 1) / KQ_VW;
        if (nb >= cur->nb)
            continue;
        if (cur == &all) { /* the first packing: from the whole group */
            int t = 0;
            for (int k = 0; k < nbt * KQ_VW; k++)
                if (ACT[k]) {
                    kq_q3_move(&all, k, &packed, t, PX);
                    orig[t++] = k;
                }
        } else { /* repacking in place: copy the stopped lanes back first */
            int t = 0;
            for (int k = 0; k < packed.nb * KQ_VW; k++) {
                if (orig[k] < 0)
                    continue;
                if (!PACT[k]) {
                    kq_q3_move(&packed, k, &all, orig[k], NULL);
                    continue;
                }
                if (t != k) {
                    kq_q3_move(&packed, k, &packed, t, PX);
                    orig[t] = orig[k];
                }
                t++;
            }
        }
        for (int k = moving; k < nb * KQ_VW; k++) { /* idle lanes */
            PS1[k] = PS2[k] = 0.0f;
            PACT[k] = 0;
            orig[k] = -1;
        }
        packed.nb = nb;
        cur = &packed;
    }
    if (cur == &packed)
        for (int k = 0; k < packed.nb * KQ_VW; k++)
            if (orig[k] >= 0)
                kq_q3_move(&packed, k, &all, orig[k], NULL);
    const vi off = vi_set(NMAX);
    for (int bt = 0; bt < nbt; bt++) {
        for (int i = 0; i < N; i++) {
            int32_t *Lp = Lout + bt * KQ_STRIDE + i * KQ_VW;
            vi_st(Lp, vi_sel(is_zero[bt], vi_set(0), vi_add(vi_ld(Lp), off)));
        }
        vf_st(sc + bt * KQ_VW,
              vf_sel(is_zero[bt], zero, vf_div(vf_ld(S1 + bt * KQ_VW), vf_ld(S2 + bt * KQ_VW))));
    }
}

/* ---- Drivers --------------------------------------------------------------- */

enum kq_kind { KQ_Q2_K, KQ_Q3_K, KQ_Q4_K, KQ_Q5_K, KQ_Q6_K };

/* X[i][l] = element i of sub-block l (lanes >= m are zero). An ISA with a
 * gather instruction defines KQ_HAVE_GATHER and vf_gather(p, stride), lane l
 * = p[l·stride]. */
static inline void kq_gather(const float *restrict src, int n, int m, float *restrict X)
{
#ifdef KQ_HAVE_GATHER
    if (m == KQ_VW) {
        for (int i = 0; i < n; i++)
            vf_st(X + i * KQ_VW, vf_gather(src + i, n));
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        for (int l = 0; l < KQ_VW; l++)
            X[i * KQ_VW + l] = l < m ? src[l * n + i] : 0.0f;
}

/* Whether no element is NaN or ±Inf. With such input the reference's bytes
 * depend on which NaN an operation propagates, which follows the operand
 * order the compiler chose for the reference (it differs between -O0 and
 * -O2): such blocks, which callers reject anyway, are quantized by the
 * reference itself so that every table agrees with it. */
static inline int kq_all_finite(const float *restrict x, int n)
{
    uint32_t bad = 0;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

static void kq_reference(enum kq_kind kind, const float *restrict x, uint8_t *restrict y)
{
    switch (kind) {
    case KQ_Q2_K: qref_quantize_q2_k(x, y, QREF_QK_K); break;
    case KQ_Q3_K: qref_quantize_q3_k(x, y, QREF_QK_K); break;
    case KQ_Q4_K: qref_quantize_q4_k(x, y, QREF_QK_K); break;
    case KQ_Q5_K: qref_quantize_q5_k(x, y, QREF_QK_K); break;
    default: qref_quantize_q6_k(x, y, QREF_QK_K); break;
    }
}

/* Step (b) of Q3_K (qref_scales_q3_k) for nb super-blocks, lane-parallel
 * with one super-block per lane: the signed extreme of the 16 sub-block
 * scales (first strictly largest |s|), iscale = -32/extreme, the 6-bit
 * scales clamp(rne(iscale·s), -32, 31) + 32, the half of 1/iscale and the
 * effective scales half·(ls - 32), with the reference's operations; the
 * header bytes of y (zeroed first, scale fields, d) and dv[16·b + j] are
 * written per super-block. */
static void kq_scales_q3(const float *restrict scales, int nb, uint8_t *restrict y,
                         float *restrict dv)
{
    const vf zero = vf_set(0.0f);
    for (int b0 = 0; b0 < nb; b0 += KQ_VW) {
        const int m = nb - b0 < KQ_VW ? nb - b0 : KQ_VW;
        const float *sb = scales + 16 * b0;
        vf s[16];
#ifdef KQ_HAVE_GATHER
        if (m == KQ_VW) {
            for (int j = 0; j < 16; j++)
                s[j] = vf_gather(sb + j, 16);
        } else
#endif
        {
            float t[16 * KQ_VW];
            for (int j = 0; j < 16; j++)
                for (int l = 0; l < KQ_VW; l++)
                    t[j * KQ_VW + l] = l < m ? sb[16 * l + j] : 0.0f;
            for (int j = 0; j < 16; j++)
                s[j] = vf_ld(t + j * KQ_VW);
        }
        vf amax = zero, mxs = zero;
        for (int j = 0; j < 16; j++) {
            const vf a = vf_abs(s[j]);
            const vm g = vm_gt(a, amax);
            amax = vf_sel(g, a, amax);
            mxs = vf_sel(g, s[j], mxs);
        }
        const vm nz = vm_not(vm_eq(mxs, zero));
        const vf iscale = vf_div(vf_set(-32.0f), mxs);
        int32_t ls[16 * KQ_VW], nzl[KQ_VW];
        float isc[KQ_VW];
        for (int j = 0; j < 16; j++)
            vi_st(ls + j * KQ_VW, vi_sel(nz, vi_add(vi_clamp(vf_rne(vf_mul(iscale, s[j])), -32, 31), vi_set(32)),
                                         vi_set(0)));
        vf_st(isc, iscale);
        vi_st(nzl, vi_sel(nz, vi_set(1), vi_set(0)));
        for (int l = 0; l < m; l++) {
            uint8_t *yb = y + (b0 + l) * 110;
            memset(yb, 0, 110);
            const int32_t *v = ls + l;
            if (nzl[l]) {
                uint8_t *sc = yb + 96;
                for (int k = 0; k < 8; k++)
                    sc[k] = (uint8_t)((v[k * KQ_VW] & 15) | (v[(k + 8) * KQ_VW] & 15) << 4);
                for (int k = 0; k < 4; k++)
                    sc[8 + k] = (uint8_t)((v[k * KQ_VW] >> 4) | (v[(k + 4) * KQ_VW] >> 4) << 2 |
                                          (v[(k + 8) * KQ_VW] >> 4) << 4 | (v[(k + 12) * KQ_VW] >> 4) << 6);
                qref_put_le16(yb + 108, qref_f32_to_f16(1.0f / isc[l]));
            }
            const float dh = qref_f16_to_f32(qref_get_le16(yb + 108));
            float *d = dv + 16 * (b0 + l);
            for (int j = 0; j < 16; j++)
                d[j] = dh * (float)(v[j * KQ_VW] - 32);
        }
    }
}

/* Step (d) of Q3_K (qref_pack_q3_k) straight from the lane layout: codes
 * 0..7 of sub-blocks g0..g0+15 (element i of sub-block g at
 * C[(g / KQ_VW)·KQ_STRIDE + i·KQ_VW + g % KQ_VW]). Two neighbouring
 * sub-blocks 2k, 2k+1 are one 64-bit word per element row (they never
 * straddle a batch: g0 and KQ_VW are even), and for row i:
 *   hmask[i] / hmask[16+i]: bit k = bit 2 of sub-block 2k / 2k+1,
 *   qs[32h+i] / qs[32h+16+i]: bits 2s..2s+1 = low bits of sub-block
 *   8h+2s / 8h+2s+1,
 * which is the reference's element order (element e = 16j + i). */
static void kq_pack_q3(const int32_t *restrict C, int g0, uint8_t *restrict yb)
{
    const int32_t *wp[8];
    for (int k = 0; k < 8; k++) {
        const int g = g0 + 2 * k;
        wp[k] = C + (g / KQ_VW) * KQ_STRIDE + g % KQ_VW;
    }
    const uint64_t M3 = 0x0000000300000003ull, M1 = 0x0000000100000001ull;
    uint8_t *qs = yb + 32;
    for (int i = 0; i < 16; i++) {
        uint64_t w[8];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const int32_t *p = wp[k] + i * KQ_VW;
            w[k] = (uint64_t)(uint32_t)p[0] | (uint64_t)(uint32_t)p[1] << 32;
        }
        uint64_t h = 0, a0 = 0, a1 = 0;
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            h |= ((w[k] >> 2) & M1) << k;
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            a0 |= (w[t] & M3) << (2 * t);
            a1 |= (w[4 + t] & M3) << (2 * t);
        }
        yb[i] = (uint8_t)h;
        yb[16 + i] = (uint8_t)(h >> 32);
        qs[i] = (uint8_t)a0;
        qs[16 + i] = (uint8_t)(a0 >> 32);
        qs[32 + i] = (uint8_t)a1;
        qs[48 + i] = (uint8_t)(a1 >> 32);
    }
}

/* Step (c) lane by lane: lanes are sub-blocks, d/dm their effective scale
 * and min (0 for lanes past the end, which keep their codes). The same float
 * operations per element as qref_requant: (x + dm) / d or x / d, the
 * nearest-int trick, the clamp. */
static inline void kq_requant(const float *restrict X, int sub, vf d, vf dm, bool affine, int lo,
                              int hi, int32_t *restrict C)
{
    const vm keep = vm_eq(d, vf_set(0.0f));
    const vi off = vi_set(-lo);
    for (int i = 0; i < sub; i++) {
        const vf x = vf_ld(X + i * KQ_VW);
        const vf v = affine ? vf_div(vf_add(x, dm), d) : vf_div(x, d);
        const vi l = vi_add(vi_clamp(vf_rne(v), lo, hi), off);
        vi_st(C + i * KQ_VW, vi_sel(keep, vi_ld(C + i * KQ_VW), l));
    }
}

static void kq_quantize(enum kq_kind kind, const float *restrict src, uint8_t *restrict y,
                        int64_t n)
{
    static const struct kq_affine q2 = {16, 3, -0.5f, 0.1f, 15, true};
    static const struct kq_affine q4 = {32, 15, -1.0f, 0.1f, 20, false};
    static const struct kq_affine q5 = {32, 31, -0.5f, 0.1f, 15, false};
    enum { NB_MAX = KQ_NB_MAX };
    const int CH = kind == KQ_Q3_K ? KQ_CH3 : KQ_CH;
    const int sub = kind == KQ_Q4_K || kind == KQ_Q5_K ? 32 : 16;
    const int subs = QREF_QK_K / sub;
    static const int bytes[] = {84, 110, 144, 176, 210};
    static const int lo_of[] = {0, -4, 0, 0, -32}, hi_of[] = {3, 3, 15, 31, 31};
    const bool affine = kind != KQ_Q3_K && kind != KQ_Q6_K;
    /* Per batch of KQ_VW sub-blocks: the elements and the codes, lane-major. */
    float X[NB_MAX * KQ_STRIDE], W[KQ_STRIDE];
    int32_t C[NB_MAX * KQ_STRIDE];
    /* Per sub-block: search results, then effective scales and mins (the
     * tail past the last sub-block stays 0: those lanes keep their codes). */
    float scales[NB_MAX * KQ_VW], mins[NB_MAX * KQ_VW];
    float dv[NB_MAX * KQ_VW], dmv[NB_MAX * KQ_VW];
    int live[KQ_CH3 > KQ_CH ? KQ_CH3 : KQ_CH];
    uint8_t L[QREF_QK_K];
    const int64_t nsb = n / QREF_QK_K;

    for (int64_t sb0 = 0; sb0 < nsb; sb0 += CH) {
        const int nb = nsb - sb0 < CH ? (int)(nsb - sb0) : CH;
        const float *xs = src + sb0 * QREF_QK_K;
        const int total = nb * subs;
        const int nbatch = (total + KQ_VW - 1) / KQ_VW;
        /* the next group's source, while this one is searched (the gathers
         * stride across it, which the hardware prefetchers do not follow) */
        if (sb0 + CH < nsb) {
            const char *next = (const char *)(xs + CH * QREF_QK_K);
            const int64_t left = (nsb - sb0 - CH) * QREF_QK_K * (int64_t)sizeof(float);
            const int64_t bytes_ahead = left < CH * QREF_QK_K * 4 ? left : CH * QREF_QK_K * 4;
            for (int64_t o = 0; o < bytes_ahead; o += 64)
                __builtin_prefetch(next + o);
        }
        /* (a) the searches */
        if (kind == KQ_Q3_K) {
            for (int bt = 0; bt < nbatch; bt++) {
                const int first = bt * KQ_VW;
                const int m = total - first < KQ_VW ? total - first : KQ_VW;
                kq_gather(xs + first * sub, sub, m, X + bt * KQ_STRIDE);
                vf_st(mins + first, vf_set(0.0f));
            }
            kq_search_q3(X, C, nbatch, scales);
        }
        for (int bt = 0; bt < nbatch && kind != KQ_Q3_K; bt++) {
            const int first = bt * KQ_VW;
            const int m = total - first < KQ_VW ? total - first : KQ_VW;
            float *Xb = X + bt * KQ_STRIDE;
            int32_t *Cb = C + bt * KQ_STRIDE;
            kq_gather(xs + first * sub, sub, m, Xb);
            vf s, neg_min = vf_set(0.0f);
            switch (kind) {
            case KQ_Q2_K:
                for (int i = 0; i < sub; i++)
                    vf_st(W + i * KQ_VW, vf_abs(vf_ld(Xb + i * KQ_VW)));
                kq_search_affine(&q2, Xb, W, Cb, &s, &neg_min);
                break;
            case KQ_Q4_K:
            case KQ_Q5_K: {
                vf sum_x2 = vf_set(0.0f);
                for (int i = 0; i < sub; i++) {
                    const vf x = vf_ld(Xb + i * KQ_VW);
                    sum_x2 = vf_add(sum_x2, vf_mul(x, x));
                }
                const vf av_x = vf_sqrt(vf_div(sum_x2, vf_set(32.0f)));
                for (int i = 0; i < sub; i++)
                    vf_st(W + i * KQ_VW, vf_add(av_x, vf_abs(vf_ld(Xb + i * KQ_VW))));
                kq_search_affine(kind == KQ_Q4_K ? &q4 : &q5, Xb, W, Cb, &s, &neg_min);
                break;
            }
            default:
                s = kq_search_symmetric(Xb, 16, 32, Cb);
                break;
            }
            vf_st(scales + first, s);
            vf_st(mins + first, neg_min);
        }
        /* (b) the scale fields of each super-block (scalar, the reference's
         * code), and the effective scales */
        for (int j = total; j < nbatch * KQ_VW; j++)
            dv[j] = dmv[j] = 0.0f;
        if (kind == KQ_Q3_K) {
            kq_scales_q3(scales, nb, y + sb0 * 110, dv);
            for (int b = 0; b < nb; b++)
                live[b] = 1;
            for (int j = 0; j < nbatch * KQ_VW; j++)
                dmv[j] = 0.0f;
        }
        for (int b = 0; b < nb && kind != KQ_Q3_K; b++) {
            uint8_t *yb = y + (sb0 + b) * bytes[kind];
            float *s = scales + b * subs, *mi = mins + b * subs;
            float *d = dv + b * subs, *dm = dmv + b * subs;
            switch (kind) {
            case KQ_Q2_K: live[b] = qref_scales_q2_k(s, mi, yb, d, dm); break;
            case KQ_Q4_K:
            case KQ_Q5_K: live[b] = qref_scales_k4(s, mi, yb, d, dm); break;
            default: live[b] = qref_scales_q6_k(s, yb, d); break;
            }
            if (!affine)
                for (int j = 0; j < subs; j++)
                    dm[j] = 0.0f;
        }
        /* (c) re-quantization, lane by lane */
        for (int bt = 0; bt < nbatch; bt++)
            kq_requant(X + bt * KQ_STRIDE, sub, vf_ld(dv + bt * KQ_VW), vf_ld(dmv + bt * KQ_VW),
                       affine, lo_of[kind], hi_of[kind], C + bt * KQ_STRIDE);
        /* (d) back to element order, and the bits */
        for (int b = 0; b < nb; b++) {
            const float *x = xs + b * QREF_QK_K;
            uint8_t *yb = y + (sb0 + b) * bytes[kind];
            if (!kq_all_finite(x, QREF_QK_K)) {
                kq_reference(kind, x, yb);
                continue;
            }
            if (!live[b])
                continue;
            if (kind == KQ_Q3_K) {
                kq_pack_q3(C, b * 16, yb);
                continue;
            }
            for (int j = 0; j < subs; j++) {
                const int g = b * subs + j, lane = g % KQ_VW;
                const int32_t *Cs = C + (g / KQ_VW) * KQ_STRIDE + lane;
                uint8_t *Ls = L + j * sub;
                for (int i = 0; i < sub; i++)
                    Ls[i] = (uint8_t)Cs[i * KQ_VW];
            }
            switch (kind) {
            case KQ_Q2_K: qref_pack_q2_k(L, yb); break;
            case KQ_Q3_K: qref_pack_q3_k(L, yb); break;
            case KQ_Q4_K: qref_pack_q4_k(L, yb); break;
            case KQ_Q5_K: qref_pack_q5_k(L, yb); break;
            default: qref_pack_q6_k(L, yb); break;
            }
        }
    }
}

/* IQ4_NL: the table value nearest to v, as iq4nl_index() picks it (exact
 * ties to the upper entry, NaN to the top). The table is increasing, so the
 * last entry not above v is the lower neighbour. */
static inline vf kq_iq4nl_value(vf v)
{
    static const float t[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                1,    13,   25,  38,  53,  69,  89,  113};
    vf lo = vf_set(t[0]), hi = vf_set(t[1]);
    for (int k = 1; k < 15; k++) {
        const vm m = vm_nlt(v, vf_set(t[k]));
        lo = vf_sel(m, vf_set(t[k]), lo);
        hi = vf_sel(m, vf_set(t[k + 1]), hi);
    }
    vf q = vf_sel(vm_lt(vf_sub(v, lo), vf_sub(hi, v)), lo, hi);
    q = vf_sel(vm_ge(v, vf_set(t[15])), vf_set(t[15]), q);
    return vf_sel(vm_le(v, vf_set(t[0])), vf_set(t[0]), q);
}

static inline void kq_iq4nl_sums(const float *restrict X, vf id, vf *sqx, vf *sq2)
{
    vf a = vf_set(0.0f), b = vf_set(0.0f);
    for (int j = 0; j < QREF_QK; j++) {
        const vf x = vf_ld(X + j * KQ_VW);
        const vf q = kq_iq4nl_value(vf_mul(id, x));
        const vf wq = vf_mul(vf_mul(x, x), q);
        a = vf_add(a, vf_mul(wq, x));
        b = vf_add(b, vf_mul(wq, q));
    }
    *sqx = a;
    *sq2 = b;
}

static void kq_quantize_iq4_nl(const float *restrict src, uint8_t *restrict y, int64_t n)
{
    float X[QREF_QK * KQ_VW], dv[KQ_VW];
    const int64_t nblk = n / QREF_QK;
    for (int64_t first = 0; first < nblk; first += KQ_VW) {
        const int m = nblk - first < KQ_VW ? (int)(nblk - first) : KQ_VW;
        kq_gather(src + first * QREF_QK, QREF_QK, m, X);
        vf amax;
        const vf mx = kq_signed_extreme(X, QREF_QK, &amax);
        const vm is_zero = vm_lt(amax, vf_set(QREF_GROUP_MAX_EPS));
        vf sumqx, sumq2;
        kq_iq4nl_sums(X, vf_div(vf_set(1.0f), vf_div(vf_neg(mx), vf_set(-127.0f))), &sumqx, &sumq2);
        vf d = vf_div(sumqx, sumq2);
        vf best = vf_mul(d, sumqx);
        for (int t = -7; t <= 7; t++) {
            kq_iq4nl_sums(X, vf_div(vf_set((float)(t - 127)), mx), &sumqx, &sumq2);
            const vm take = vm_and(vm_gt(sumq2, vf_set(0.0f)),
                                   vm_gt(vf_mul(sumqx, sumqx), vf_mul(best, sumq2)));
            d = vf_sel(take, vf_div(sumqx, sumq2), d);
            best = vf_sel(take, vf_mul(d, sumqx), best);
        }
        vf_st(dv, vf_sel(is_zero, vf_set(0.0f), d));
        for (int l = 0; l < m; l++) {
            const float *x = src + (first + l) * QREF_QK;
            uint8_t *yb = y + (first + l) * 18;
            if (kq_all_finite(x, QREF_QK))
                qref_finish_iq4_nl(x, dv[l], yb);
            else
                qref_quantize_iq4_nl(x, yb, QREF_QK);
        }
    }
}

#endif
