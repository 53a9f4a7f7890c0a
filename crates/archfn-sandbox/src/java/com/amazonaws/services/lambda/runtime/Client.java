package com.amazonaws.services.lambda.runtime;

/** The mobile client of a client context. */
public interface Client {
    String getInstallationId();
    String getAppTitle();
    String getAppVersionName();
    String getAppVersionCode();
    String getAppPackageName();
}
