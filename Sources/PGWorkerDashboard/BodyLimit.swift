import Hummingbird
import NIOCore

/// Answers 413 to a request body over ``Pages/maximumBodyBytes``: at once when `Content-Length`
/// says so, or when a route reading a longer body (chunked, say) stops at the limit.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Pages.maximumBodyBytes {
            return Pages.tooLarge()
        }
        do {
            return try await next(request, context)
        } catch is NIOTooManyBytesError {
            return Pages.tooLarge()
        }
    }
}
