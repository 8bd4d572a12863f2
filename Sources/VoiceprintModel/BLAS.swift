import CBLAS

/// The one Swift type that touches OpenBLAS: row-major single-precision
/// matrix products and the thread setting.
///
/// All matrices are row-major and contiguous unless a leading dimension is given.
public enum BLAS {
    /// OpenBLAS threads for this process. The daemon sets 1 (one request per
    /// worker thread already fills the cores); training may use more.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C = α·op(A)·op(B) + β·C with op(A) [m, k], op(B) [k, n], C [m, n].
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda ?? (transA ? m : k)),
            b, Int32(ldb ?? (transB ? k : n)),
            beta, c, Int32(ldc ?? n))
    }

    /// y = α·op(A)·x + β·y with A [m, n] row-major.
    @inline(__always)
    public static func gemv(
        trans: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha,
                    a, Int32(n), x, 1, beta, y, 1)
    }

    /// y += α·x over `count` elements.
    @inline(__always)
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    /// x·y over `count` elements.
    @inline(__always)
    public static func dot(count: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(count), x, 1, y, 1)
    }
}
