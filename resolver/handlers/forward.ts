/** The last handler: forwards everything that reaches it to the upstreams. */
import type { Forwarder } from '../forward/forwarder.js';
import type { Handler } from '../pipeline.js';
import type { Query } from '../wire/query.js';

/** Forwards to the upstream resolvers; never calls `next`. */
export class ForwardHandler implements Handler {
  readonly name = 'forward';
  constructor(private readonly forwarder: Forwarder) {}

  serve(query: Query): Promise<Buffer> {
    return this.forwarder.forward(query);
  }
}
