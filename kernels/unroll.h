// Loops unrolled by the preprocessor: UNROLL_A(n, M, a) expands to M(0, a) M(1, a) ... M(n - 1, a)
// for a literal n from 1 to 16 (a tile size given as a build option); UNROLL_B is the same for
// a loop inside UNROLL_A's body (a macro does not expand within itself). The GPU kernels write
// their register tiles this way rather than with `#pragma unroll`: a tile indexed only by
// constants stays in registers on every compiler, and no loop is left inside the reduction
// loop: Mesa's llvmpipe (Rusticl's software device) leaves `#pragma unroll` loops rolled and
// stops a loop once its iterations, counted over the whole work-item, reach 65,535.
#ifndef CAT
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#endif
#define UNROLL_A_1(M, a) M(0, a)
#define UNROLL_A_2(M, a) UNROLL_A_1(M, a) M(1, a)
#define UNROLL_A_3(M, a) UNROLL_A_2(M, a) M(2, a)
#define UNROLL_A_4(M, a) UNROLL_A_3(M, a) M(3, a)
#define UNROLL_A_5(M, a) UNROLL_A_4(M, a) M(4, a)
#define UNROLL_A_6(M, a) UNROLL_A_5(M, a) M(5, a)
#define UNROLL_A_7(M, a) UNROLL_A_6(M, a) M(6, a)
#define UNROLL_A_8(M, a) UNROLL_A_7(M, a) M(7, a)
#define UNROLL_A_9(M, a) UNROLL_A_8(M, a) M(8, a)
#define UNROLL_A_10(M, a) UNROLL_A_9(M, a) M(9, a)
#define UNROLL_A_11(M, a) UNROLL_A_10(M, a) M(10, a)
#define UNROLL_A_12(M, a) UNROLL_A_11(M, a) M(11, a)
#define UNROLL_A_13(M, a) UNROLL_A_12(M, a) M(12, a)
#define UNROLL_A_14(M, a) UNROLL_A_13(M, a) M(13, a)
#define UNROLL_A_15(M, a) UNROLL_A_14(M, a) M(14, a)
#define UNROLL_A_16(M, a) UNROLL_A_15(M, a) M(15, a)
#define UNROLL_A(n, M, a) CAT(UNROLL_A_, n)(M, a)
#define UNROLL_B_1(M, a) M(0, a)
#define UNROLL_B_2(M, a) UNROLL_B_1(M, a) M(1, a)
#define UNROLL_B_3(M, a) UNROLL_B_2(M, a) M(2, a)
#define UNROLL_B_4(M, a) UNROLL_B_3(M, a) M(3, a)
#define UNROLL_B_5(M, a) UNROLL_B_4(M, a) M(4, a)
#define UNROLL_B_6(M, a) UNROLL_B_5(M, a) M(5, a)
#define UNROLL_B_7(M, a) UNROLL_B_6(M, a) M(6, a)
#define UNROLL_B_8(M, a) UNROLL_B_7(M, a) M(7, a)
#define UNROLL_B_9(M, a) UNROLL_B_8(M, a) M(8, a)
#define UNROLL_B_10(M, a) UNROLL_B_9(M, a) M(9, a)
#define UNROLL_B_11(M, a) UNROLL_B_10(M, a) M(10, a)
#define UNROLL_B_12(M, a) UNROLL_B_11(M, a) M(11, a)
#define UNROLL_B_13(M, a) UNROLL_B_12(M, a) M(12, a)
#define UNROLL_B_14(M, a) UNROLL_B_13(M, a) M(13, a)
#define UNROLL_B_15(M, a) UNROLL_B_14(M, a) M(14, a)
#define UNROLL_B_16(M, a) UNROLL_B_15(M, a) M(15, a)
#define UNROLL_B(n, M, a) CAT(UNROLL_B_, n)(M, a)
