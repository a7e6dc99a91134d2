package reel.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts a single OpenSearch node on loopback for reel's tests.
 *
 * <p>Usage: {@code OpenSearchLauncher <home dir>}. The node keeps its data, logs and config
 * under the home directory, binds HTTP and transport to free loopback ports, and prints one
 * line {@code {"url":"http://127.0.0.1:PORT"}} on stdout once it answers. It stops, and deletes
 * the home directory, when its standard input closes (the test process exited or dropped it).
 */
public final class OpenSearchLauncher {
    private OpenSearchLauncher() {}

    /** A node that takes its modules from the classpath instead of a plugins directory. */
    static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment, List<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: OpenSearchLauncher <home dir>");
            System.exit(2);
        }
        // stdout carries only the URL line; the node's console log goes to stderr.
        PrintStream stdout = System.out;
        System.setOut(System.err);
        Path home = Paths.get(args[0]).toAbsolutePath();
        Files.createDirectories(home.resolve("config"));
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "reel-test")
            .put("node.name", "reel-test-node")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", "0")
            .put("transport.port", "0")
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("indices.breaker.total.use_real_memory", false)
            .put("logger.level", "WARN")
            .build();
        LogConfigurator.configureWithoutConfig(settings);
        Environment environment = new Environment(settings, home.resolve("config"));
        List<Class<? extends Plugin>> plugins = List.of(
            Netty4Plugin.class,
            CommonAnalysisPlugin.class,
            MapperExtrasPlugin.class,
            ReindexPlugin.class,
            PainlessPlugin.class
        );
        Node node = new ClasspathNode(environment, plugins);
        node.start();
        InetSocketAddress http = node.injector()
            .getInstance(HttpServerTransport.class)
            .boundAddress()
            .publishAddress()
            .address();
        stdout.println("{\"url\":\"http://127.0.0.1:" + http.getPort() + "\"}");
        stdout.flush();

        // Stop when the parent closes our stdin (it exited, or dropped its handle).
        InputStream in = System.in;
        byte[] buffer = new byte[256];
        try {
            while (in.read(buffer) >= 0) {
                // Nothing is expected on stdin; only its end matters.
            }
        } catch (IOException ignored) {
            // A broken pipe means the parent is gone too.
        }
        try {
            node.close();
            node.awaitClose(10, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            deleteTree(home);
            System.exit(0);
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException ignored) {
            // Best effort: the directory lives under the system temp dir.
        }
    }
}
