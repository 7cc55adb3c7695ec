/** A real SMTP submission server (netdial's `serveSmtp`) on 127.0.0.1, for the --starttls tests. */
import { serveSmtp } from "@netdial/starttls"
import { Transports } from "@netdial/transport"
import { Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"

export const startSmtp = async (
  certPem: string,
  keyPem: string,
  options: { implicit?: boolean; inject?: string } = {}
) => {
  const runtime = ManagedRuntime.make(Layer.mergeAll(Transports.layerNode))
  const scope = await runtime.runPromise(Scope.make())
  const port = await runtime.runPromise(
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen(
        options.implicit ? "tls://127.0.0.1:0" : "tcp://127.0.0.1:0",
        options.implicit ? { cert: certPem, key: keyPem } : {}
      )
      yield* serveSmtp(listener, {
        tls: { cert: certPem, key: keyPem },
        hostname: "mail.netdial.test",
        implicit: options.implicit ?? false,
        ...(options.inject !== undefined ? { injectAfterStartTls: options.inject } : {})
      }).pipe(Effect.forkIn(scope))
      return listener.url.port!
    }).pipe(Scope.provide(scope))
  )
  return {
    port,
    close: async () => {
      await runtime.runPromise(Scope.close(scope, Exit.void))
      await runtime.dispose()
    }
  }
}
