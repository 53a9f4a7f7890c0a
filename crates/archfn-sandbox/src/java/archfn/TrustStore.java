package archfn;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

/**
 * Writes the JDK's trust store from a PEM bundle of CA certificates, at runtime install: what
 * Debian's ca-certificates-java does in a maintainer script, which an extract does not run.
 * Usage: {@code TrustStore <bundle.pem> <cacerts>}; the store is JKS with the JDK's usual
 * password {@code changeit}.
 */
public final class TrustStore {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: TrustStore <bundle.pem> <cacerts>");
            System.exit(2);
        }
        // JKS: its certificates are readable without the password, as the JDK loads its default
        // trust store (a PKCS12 store's certificates would be encrypted under it).
        KeyStore store = KeyStore.getInstance("JKS");
        store.load(null, null);
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        int n = 0;
        try (InputStream in = new FileInputStream(args[0])) {
            for (Certificate c : factory.generateCertificates(in)) {
                String alias = ((X509Certificate) c).getSubjectX500Principal().getName() + " #" + n;
                store.setCertificateEntry(alias, c);
                n++;
            }
        }
        if (n == 0) {
            System.err.println("no certificates in " + args[0]);
            System.exit(1);
        }
        try (OutputStream out = new FileOutputStream(args[1])) {
            store.store(out, "changeit".toCharArray());
        }
    }
}
