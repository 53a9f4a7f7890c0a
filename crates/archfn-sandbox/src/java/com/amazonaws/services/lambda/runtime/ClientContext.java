package com.amazonaws.services.lambda.runtime;

import java.util.Map;

/** The mobile client context an invocation carried, if any. */
public interface ClientContext {
    Client getClient();
    Map<String, String> getCustom();
    Map<String, String> getEnvironment();
}
