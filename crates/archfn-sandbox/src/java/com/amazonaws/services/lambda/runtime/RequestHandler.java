package com.amazonaws.services.lambda.runtime;

/** A handler of events of type I answering O; events and answers are JSON. */
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}
